"""Whose CPU a run took: the hub's process, the processes under it (the parse worker), the database server's and
Dovecot's, read from /proc at two moments the benchmark chooses.

A benchmark's ratio says how far the hub is from the bare loop; this says whether the machine had the CPU to go
faster. When the processes' CPU seconds over the run come to its wall time times the machine's CPUs, the run was
short of CPU, not of round trips, and only doing less work a message makes it faster.

Each process is grouped by what it is: the hub's own process (its pid), any process under it (the parse worker,
multiprocessing's resource tracker), a process whose command is `postgres` (every backend of the PostgreSQL
server: the hub's connections, and the server's own writers), or one of Dovecot's (`dovecot`, `imap`,
`imap-login`, …; the benchmark's private server is the only one on the machine). A process that ended before the
second moment is counted by its parent, which the kernel gives the CPU of the children it has reaped (the hub
its parse worker, PostgreSQL's postmaster a backend, Dovecot's master an `imap` process).

Linux only (/proc/PID/stat's utime, stime, cutime and cstime, in clock ticks).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.tree_memory import descendants

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")
GROUPS = ("hub", "parse worker", "database server", "Dovecot")
_DOVECOT = frozenset({"dovecot", "imap", "imap-login", "auth", "anvil", "log", "config", "stats"})


@dataclass(frozen=True)
class CpuReading:
    """Each process's CPU seconds at one moment, with its group; under -PID, those of the children it reaped."""

    seconds: dict[int, tuple[str, float]]

    def since(self, earlier: CpuReading) -> Counter[str]:
        """CPU seconds each group took from `earlier` to this reading (a process new since then from its start)."""
        taken: Counter[str] = Counter()
        for pid, (group, seconds) in self.seconds.items():
            before = earlier.seconds.get(pid)
            taken[group] += seconds - (before[1] if before is not None and before[0] == group else 0.0)
        return taken


def read_cpu(hub_pid: int) -> CpuReading:
    """Every grouped process's CPU seconds now; the hub's tree found from `hub_pid`."""
    under_hub = {pid for pid, _ in descendants(hub_pid)} - {hub_pid}
    seconds: dict[int, tuple[str, float]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        group = ("hub" if pid == hub_pid else "parse worker" if pid in under_hub else
                 "database server" if name == "postgres" else "Dovecot" if name in _DOVECOT else None)
        if group is None:
            continue
        # After the command: state is field 3, utime and stime fields 14 and 15, the reaped children's cutime and
        # cstime 16 and 17 (1-based, as proc(5) counts).
        fields = [int(field) / TICKS for field in stat[stat.rindex(")") + 2:].split()[11:15]]
        seconds[pid] = (group, fields[0] + fields[1])
        # A negative key: the children this process has reaped, in their own group (the hub's: its parse worker).
        seconds[-pid] = ("parse worker" if group == "hub" else group, fields[2] + fields[3])
    return CpuReading(seconds)


def machine_bound(per_message_ms: float, fixed_seconds: float, messages: int) -> float:
    """The most messages a second a run could reach if every CPU of the machine worked for it all the time and no
    process ever waited: `per_message_ms` of CPU in all a message, after `fixed_seconds` of start-up."""
    cpus = os.cpu_count() or 1
    return messages / (fixed_seconds + messages * per_message_ms / 1000 / cpus)


def busiest_bound(per_message_ms: dict[str, float], fixed_seconds: float, messages: int) -> tuple[str, float]:
    """The group that would bound a run on a machine with a CPU free for every process, and the most messages a
    second it would allow there: each group's process works alone, and the one with the most CPU a message sets
    the pace (a group of several processes, as the database server's, counted as if one did all its work)."""
    group = max(per_message_ms, key=per_message_ms.__getitem__)
    return group, messages / (fixed_seconds + messages * per_message_ms[group] / 1000)
