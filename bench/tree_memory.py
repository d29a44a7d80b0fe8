"""The memory of a whole process tree (a process and every process under it), sampled while it runs.

Every `interval` seconds a thread reads each process's RSS (resident pages, counting a page shared between
processes in each of them) from /proc/PID/statm, and every `PSS_EVERY`th time its PSS (each shared page divided
among the processes that share it, so the sum over a tree is what the tree costs the machine) from
/proc/PID/smaps_rollup; the tree itself (the descendants of the root, from /proc/PID/stat's parent field) is
found again as often, and whenever one of its processes is gone. It keeps the peak of each sum, the most
processes seen at once, each process's own peak by its command, and the time series (for a growth check).

The sampler must not take the CPU of what it measures: smaps_rollup walks a process's page tables (a few ms for
the hub) and the tree's search reads every process's stat, which every 50 ms took about a tenth of a CPU from the
hub on a 2-core machine; statm is a counter the kernel keeps. A sample's PSS is each process's last reading.

Linux only. A short spike between two samples is missed; RUSAGE_CHILDREN's ru_maxrss, which the kernel
keeps exactly, is the largest single process and is printed beside it.

    python3 bench/tree_memory.py COMMAND …   runs COMMAND and prints its tree's peaks
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Sample:
    at: float   # seconds since sampling started
    rss_kb: int
    pss_kb: int
    processes: int


@dataclass
class TreePeaks:
    rss_kb: int = 0
    pss_kb: int = 0
    processes: int = 0
    by_process: dict[str, tuple[int, int]] = field(default_factory=dict)  # "pid command" -> own peak RSS, PSS (kB)
    samples: list[Sample] = field(default_factory=list)

    @property
    def rss_mb(self) -> float:
        return self.rss_kb / 1024

    @property
    def pss_mb(self) -> float:
        return self.pss_kb / 1024

    def pss_mb_at(self, fraction: float, until: float | None = None) -> float:
        """The tree's PSS (MB) at this fraction of the time from the first sample to `until` (or the last)."""
        if not self.samples:
            return 0.0
        end = self.samples[-1].at if until is None else until
        target = fraction * end
        return min(self.samples, key=lambda s: abs(s.at - target)).pss_kb / 1024

    def max_pss_mb_between(self, start: float, end: float) -> float:
        inside = [s.pss_kb for s in self.samples if start <= s.at <= end]
        return max(inside, default=0) / 1024


def descendants(root: int) -> list[tuple[int, int]]:
    """The root and every living process under it, each with its parent's pid."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command (field 2) is in parentheses and may hold spaces; the parent is the 2nd field after it.
        parent = int(stat[stat.rindex(")") + 2:].split(" ", 2)[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [(root, 0)]
    while todo:
        pid, parent = todo.pop()
        found.append((pid, parent))
        todo.extend((child, pid) for child in children.get(pid, []))
    return found


PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
PSS_EVERY = 10


def resident_kb(pid: int) -> int | None:
    """RSS kB of one process (its statm's resident pages), or None if it is gone."""
    try:
        return int((PROC / str(pid) / "statm").read_text().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return None


def rollup(pid: int) -> tuple[int, int] | None:
    """(RSS kB, PSS kB) of one process, or None if it is gone."""
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines()[1:]:
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name] = int(rest.split()[0])
    if "Rss" not in values:
        return None
    return values["Rss"], values.get("Pss", values["Rss"])


def command(pid: int) -> str:
    try:
        args = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    return " ".join(a.decode(errors="replace") for a in args if a)[:80]


class TreeSampler:
    """Samples the tree under `pid` in a thread from `start()` to `stop()`."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.peaks = TreePeaks()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-memory", daemon=True)
        self._names: dict[int, str] = {}
        self._tree: list[tuple[int, int]] = []  # (pid, parent), found again every PSS_EVERY samples
        self._pss: dict[int, int] = {}  # each process's last PSS reading (kB)
        self._count = 0
        self.started = 0.0

    def start(self) -> TreeSampler:
        self.started = time.perf_counter()
        self._thread.start()
        return self

    def stop(self) -> TreePeaks:
        self._stop.set()
        self._thread.join()
        return self.peaks

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        full = self._count % PSS_EVERY == 0
        self._count += 1
        if full:
            self._tree = descendants(self.pid)
        rss = pss = count = 0
        for pid, parent in self._tree:
            found = rollup(pid) if full else _with_pss(resident_kb(pid), self._pss.get(pid))
            if found is None:
                if not full:  # a process gone: the tree is found again at the next sample
                    self._count = 0
                continue
            self._pss[pid] = found[1]
            count += 1
            rss += found[0]
            pss += found[1]
            if pid not in self._names:
                # A process forked by another without exec has its parent's command line: say so.
                line = command(pid)
                forked = " (forked)" if parent in self._names and self._names[parent].endswith(line) else ""
                self._names[pid] = f"{pid}{forked} {line}"
            name = self._names[pid]
            seen = self.peaks.by_process.get(name, (0, 0))
            self.peaks.by_process[name] = (max(seen[0], found[0]), max(seen[1], found[1]))
        if count == 0:
            return
        p = self.peaks
        p.rss_kb, p.pss_kb, p.processes = max(p.rss_kb, rss), max(p.pss_kb, pss), max(p.processes, count)
        p.samples.append(Sample(time.perf_counter() - self.started, rss, pss, count))


def _with_pss(rss_kb: int | None, pss_kb: int | None) -> tuple[int, int] | None:
    return None if rss_kb is None else (rss_kb, rss_kb if pss_kb is None else pss_kb)


def children_maxrss_mb() -> float:
    """RUSAGE_CHILDREN's ru_maxrss: the largest single process among the waited-for descendants."""
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def measure(command_line: list[str], **popen: object) -> tuple[int, TreePeaks]:
    """Run a command to its end with its tree sampled; (exit code, peaks)."""
    proc = subprocess.Popen(command_line, **popen)  # type: ignore[call-overload]
    sampler = TreeSampler(proc.pid).start()
    code = proc.wait()
    return code, sampler.stop()


def main() -> int:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    code, peaks = measure(sys.argv[1:])
    print(f"tree peak RSS {peaks.rss_mb:.0f} MB, PSS {peaks.pss_mb:.0f} MB, {peaks.processes} processes at most; "
          f"largest single process (RUSAGE_CHILDREN) {children_maxrss_mb():.0f} MB", file=sys.stderr)
    for name, (rss, pss) in sorted(peaks.by_process.items(), key=lambda item: -item[1][0]):
        print(f"  {rss / 1024:6.0f} MB RSS {pss / 1024:6.0f} MB PSS  {name}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
