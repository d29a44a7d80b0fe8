"""Ingest benchmark: the bare IMAP fetch-and-parse rate against the hub's full inbound path.

    python3 bench/ingest.py [--messages N] [--database sqlite|postgresql] [--seed S] [--profile FILE]

One private Dovecot (tests/servers/dovecot.py) gets N messages from tests/mailgen.py in INBOX, then:
  bare  one imapclient connection, `UID FETCH` in batches of 100 with BODY.PEEK[], mail-parser's
        parse_from_bytes on each message (and let it go). PEEK leaves the mailbox as it was.
  full  `hub --config … run --once` in a subprocess, on a fresh office (SQLite file or a throwaway
        PostgreSQL database), over the same INBOX; the hub moves every message out of it. The rate
        counts from process start to the inbox's summary line. The delivery of the letters the mail
        caused (acknowledgements, caseworker notices, into the office's sent Maildir) comes after that
        line: it is timed apart, and stopped after 90 s (a large import causes more letters than
        that; delivery is crash-safe and the rest would go in the next cycle). A second run on the
        emptied inbox, stopped at its summary line, gives the fixed start-up cost. Peak memory: the hub
        process's ru_maxrss (os.wait4), and the whole tree's (the hub, the fork server, the parse worker,
        multiprocessing's resource tracker) sampled by bench/tree_memory.py (RSS every 50 ms, PSS every 0.5
        s): the peak of the sum of RSS (shared pages counted in each process) and of PSS (shared pages divided
        among them), the tree's PSS at each quarter of the intake (flat after warm-up, or growing with N), and
        beside it the floor: a bare interpreter importing the hub, measured the same way.
CPU: each group's a message from the hub's start to its summary line (bench/cpu_split.py: the hub, its parse
worker, the database server, Dovecot; the start-up's, from the run on the empty inbox, left out), and the rate the
machine's CPUs would allow at that cost if none of them ever waited or did other work.
Before either, one untimed SELECT lets Dovecot index the freshly delivered Maildir, so neither pays it.
Afterwards every message must be accounted for: on cases + triage + quarantine + duplicates = N.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mailparser  # noqa: E402
from imapclient import IMAPClient  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench.compiled import hub_environment  # noqa: E402
from bench.cpu_split import GROUPS, busiest_bound, machine_bound, read_cpu  # noqa: E402
from bench.tree_memory import TreePeaks, TreeSampler  # noqa: E402
from bench.tree_memory import measure as measure_tree  # noqa: E402
from hub.core.app import open_hub  # noqa: E402
from hub.core.models import Outbox  # noqa: E402
from hub.core.refs import References  # noqa: E402
from tests.helpers import START, Tally, make_office, tally  # noqa: E402
from tests.mailgen import office_mailbox  # noqa: E402
from tests.servers.dovecot import DovecotServer, dovecot_unavailable_reason, running_dovecot  # noqa: E402

BATCH = 100
PROJECT_TO = 100_000
# Seconds the hub may go on delivering letters after the summary line before it is stopped.
DELIVERY_WINDOW = 90.0
FATES = ("new-case", "case", "triage", "duplicate", "quarantine")


@dataclass(frozen=True)
class Run:
    seconds: float        # process start to the summary line
    total_seconds: float  # process start to exit
    outbox_seconds: float  # the summary line to the outbox line, or to the stop
    stopped: bool         # delivery was cut off after DELIVERY_WINDOW seconds
    fates: Counter[str]
    peak_rss_mb: float
    cpu_seconds: float    # user + system time of the hub process and its reaped children (the parse worker)
    stderr: Counter[str]  # lines by "LEVEL logger" (or "other")
    tree: TreePeaks = field(default_factory=TreePeaks)  # the hub and its parse worker processes, sampled
    summary_offset: float = 0.0  # the summary line, in the tree sampler's seconds
    cpu: Counter[str] = field(default_factory=Counter)  # CPU seconds by group, process start to the summary line


def fill(server: DovecotServer, n: int, refs: References, seed: int, expected: Counter[str]) -> int:
    def counted() -> Iterator[bytes]:
        for item in office_mailbox(n, refs, START.year, seed=seed):
            expected[item.expect] += 1
            yield item.raw
    return server.deliver_many(counted())


def client(server: DovecotServer) -> IMAPClient:
    imap = IMAPClient(server.host, server.port, ssl=False, timeout=120)
    imap.login(server.user, server.password)
    return imap


def bare_rate(server: DovecotServer) -> tuple[int, float, int]:
    """(messages, seconds, parse failures) for fetch + mail-parser over INBOX, read-only."""
    start = time.perf_counter()
    imap = client(server)
    imap.select_folder("INBOX", readonly=True)
    uids = sorted(imap.search(["ALL"]))
    failures = 0
    for first in range(0, len(uids), BATCH):
        for data in imap.fetch(uids[first:first + BATCH], ["BODY.PEEK[]"]).values():
            try:
                mailparser.parse_from_bytes(data.get(b"BODY[]") or b"")
            except Exception:  # the generator's malformed messages; the hub quarantines them
                failures += 1
    imap.logout()
    return len(uids), time.perf_counter() - start, failures


def full_run(config: Path, password: str, log: Path, profile: Path | None = None,
             delivery_window: float = DELIVERY_WINDOW) -> Run:
    """One `hub run --once`. After the inbox's summary line the hub delivers the letters the mail caused;
    it is given `delivery_window` seconds for that and then stopped (SIGKILL; delivery is crash-safe)."""
    command = [sys.executable, *(["-m", "cProfile", "-o", str(profile)] if profile else []),
               "-m", "hub", "--config", str(config), "run", "--once", "--at", START.isoformat()]
    env = hub_environment(HUB_INBOX_PASSWORD=password, PYTHONUNBUFFERED="1")
    fates: Counter[str] = Counter()
    summary_at = outbox_at = None
    stopped = threading.Event()
    start = time.perf_counter()
    with open(log, "w") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        assert proc.stdout is not None
        sampler = TreeSampler(proc.pid).start()
        cpu_at_start, cpu = read_cpu(proc.pid), Counter[str]()

        def stop() -> None:
            if proc.poll() is None:
                stopped.set()
                proc.kill()
        timer = threading.Timer(delivery_window, stop)
        for line in proc.stdout:
            if summary_at is None and re.match(r"\d+ messages: ", line):
                summary_at = time.perf_counter()
                cpu = read_cpu(proc.pid).since(cpu_at_start)
                fates.update({fate: int(count) for count, fate in re.findall(r"(\d+) ([a-z-]+)", line)})
                if profile:
                    # The intake alone: interrupted at its summary line, cProfile writes its stats on the
                    # way out (a kill after the delivery window would leave none).
                    stopped.set()
                    proc.send_signal(signal.SIGINT)
                else:
                    timer.start()
            elif outbox_at is None and line.startswith("outbox: "):
                outbox_at = time.perf_counter()
        tree = sampler.stop()  # before the wait: the tree is gone, but not yet reaped
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    end = time.perf_counter()
    if (proc.returncode != 0 and not stopped.is_set()) or summary_at is None:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-20:])
        sys.exit(f"hub run --once failed (exit {proc.returncode}); the end of its log ({log}, removed with the "
                 f"bench's folder):\n{tail}")
    return Run(summary_at - start, end - start, (outbox_at or end) - summary_at, stopped.is_set(), fates,
               usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime,
               _log_lines(log), tree, summary_at - sampler.started, cpu)


def _log_lines(log: Path) -> Counter[str]:
    """The hub's stderr, counted by level and logger (its format: `time LEVEL logger: message`)."""
    found: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        match = re.match(r"\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.]+): ", line)
        found[" ".join(match.groups()) if match else "other"] += 1
    return found


def folder_counts(server: DovecotServer) -> dict[str, int]:
    imap = client(server)
    counts = {name: imap.folder_status(name, ["MESSAGES"])[b"MESSAGES"]
              for name in ("INBOX", "Processed", "Quarantine") if imap.folder_exists(name)}
    imap.logout()
    return counts


@dataclass(frozen=True)
class Results:
    n: int
    fill_seconds: float
    fetched: int
    bare_seconds: float
    unparsed: int
    full: Run
    idle: Run
    folders: dict[str, int]
    tally: Tally
    expected: Counter[str]
    load: float
    letters: Counter[str]  # outbox rows by state after the full run
    floor: TreePeaks = field(default_factory=TreePeaks)  # a bare `python -c "import hub.cli.main"`, same sampler


def measure(args: argparse.Namespace, work: Path, server: DovecotServer, url: str) -> Results:
    load = os.getloadavg()[0]
    hub = make_office(work / "office", url, inbox_url=server.imap_url())
    config, refs = hub.config.path, hub.refs
    hub.close()
    expected: Counter[str] = Counter()
    started = time.perf_counter()
    n = fill(server, args.messages, refs, args.seed, expected)
    fill_seconds = time.perf_counter() - started
    warm = client(server)
    warm.select_folder("INBOX")  # Dovecot moves new/ to cur/ and builds its index: untimed
    warm.logout()
    fetched, bare_seconds, unparsed = bare_rate(server)
    full = full_run(config, server.password, work / "full.log", args.profile)
    hub = open_hub(config)
    counts = tally(hub)
    with hub.sessions() as session:
        rows = session.execute(select(Outbox.state, func.count()).group_by(Outbox.state))
        letters = Counter({str(state): int(count) for state, count in rows})
    hub.close()
    idle = full_run(config, server.password, work / "idle.log", delivery_window=0)
    floor = measure_tree([sys.executable, "-c", "import hub.cli.main"])[1]
    return Results(n, fill_seconds, fetched, bare_seconds, unparsed, full, idle, folder_counts(server), counts,
                   expected, max(load, os.getloadavg()[0]), letters, floor)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", type=Path, help="run the full path under cProfile, stats to this file")
    args = parser.parse_args()
    logging.getLogger("mailparser").setLevel(logging.ERROR)  # one warning per text/rfc822-headers part
    reason = dovecot_unavailable_reason()
    if reason:
        sys.exit(f"cannot run: {reason}")
    with (tempfile.TemporaryDirectory(prefix="hub-bench-") as folder,
          running_dovecot(Path(folder) / "dovecot") as server):
        if args.database == "sqlite":
            results = measure(args, Path(folder), server, f"sqlite:///{folder}/hub.db")
        else:
            from tests.postgres import PostgresDatabases

            postgres = PostgresDatabases()
            if (why := postgres.unavailable_reason()) is not None:
                sys.exit(f"cannot run: {why}")
            try:
                results = measure(args, Path(folder), server, postgres.fresh())
            finally:
                postgres.drop_all()
    report(args, results)
    return 0


def _role(name: str) -> str:
    """What a process of the hub's tree is, from its "pid command line"."""
    for marker, role in (("-m hub", "hub"), ("(forked)", "parse worker"), ("forkserver", "fork server"),
                         ("resource_tracker", "resource tracker"), ("spawn_main", "parse worker")):
        if marker in name:
            return role
    return name.split(" ", 1)[1][:40]


def _tree_lines(full: Run, floor: TreePeaks) -> str:
    """The whole process tree's peaks (the hub, the fork server, the parse worker), and how the tree's PSS moved
    during intake: a tree that grows with N shows it between the quarters."""
    tree, until = full.tree, full.summary_offset
    quarters = " → ".join(f"{tree.pss_mb_at(q, until):.0f}" for q in (0.25, 0.5, 0.75, 1.0))
    processes = "; ".join(f"{rss / 1024:.0f}/{pss / 1024:.0f} MB {_role(name)}"
                          for name, (rss, pss) in sorted(tree.by_process.items(), key=lambda item: -item[1][0]))
    return f"""  tree      hub + workers      {tree.rss_mb:8.0f} MB RSS  {tree.pss_mb:.0f} MB PSS   (peak of the sums, \
RSS every 50 ms, PSS every 0.5 s; {tree.processes} processes; target RSS <= 200)
            intake PSS at 1/4, 1/2, 3/4, end: {quarters} MB; delivery's peak \
{tree.max_pss_mb_between(until, float("inf")):.0f} MB
            each process's own peak RSS/PSS: {processes}
  floor     import hub.cli.main {floor.rss_mb:7.0f} MB RSS  {floor.pss_mb:.0f} MB PSS   (a bare interpreter importing \
the hub; tree/floor RSS {tree.rss_kb / max(floor.rss_kb, 1):.2f})"""


def _cpu_lines(r: Results, bare: float) -> str:
    """The CPU each group took a message, to the summary line (the hub's start-up, the run on the empty inbox, left
    out), the rate the machine's CPUs would allow if they did nothing else and no process waited, and the rate a
    machine with a CPU free for each process would allow (a projection: the busiest process sets the pace)."""
    n, taken = r.n, r.full.cpu - r.idle.cpu
    share = {group: taken[group] / n * 1000 for group in GROUPS}
    total = sum(share.values())
    bound = machine_bound(total, r.idle.seconds, n)
    busiest, projected = busiest_bound(share, r.idle.seconds, n)
    shares = ", ".join(f"{group} {ms:.2f}" for group, ms in share.items())
    return (f"  CPU       a message, to the summary line (ms): {shares}; {total:.2f} in all on {os.cpu_count()} "
            f"CPUs\n            (the bare loop: {1000 / bare:.2f} ms of one CPU); every CPU busy, no process waiting, "
            f"after the start-up:\n            at most {bound:.0f} msgs/s, a ratio of {bound / bare:.2f}; "
            f"with a CPU free for each process, the {busiest}'s\n            would set the pace: "
            f"at most {projected:.0f} msgs/s, a ratio of {projected / bare:.2f} (projected)")


def report(args: argparse.Namespace, r: Results) -> None:
    n, full, counts = r.n, r.full, r.tally
    bare, rate = r.fetched / r.bare_seconds, n / full.seconds
    duplicates = full.fates["duplicate"]
    accounted = counts.on_cases + counts.triage + counts.quarantine + duplicates
    moved = r.folders.get("Processed", 0) + r.folders.get("Quarantine", 0)
    checks = {
        "fates as generated": all(full.fates[f] == r.expected[f] for f in FATES),
        "tally = N": accounted == n,
        "cases = new": counts.cases == r.expected["new-case"],
        "inbox emptied": r.folders.get("INBOX", 0) == 0 and moved == n,
    }
    profiled = " (under cProfile)" if args.profile else ""
    stderr = ", ".join(f"{count} {name}" for name, count in full.stderr.most_common()) or "nothing"
    print(f"""
ingest benchmark: {n} messages, {args.database}{profiled}, seed {args.seed}
  machine   {os.cpu_count()} CPUs, 1-min load average up to {r.load:.1f} (other work skews every rate)
  fill      generate + deliver {r.fill_seconds:8.1f} s
  bare      fetch + parse      {bare:8.0f} msgs/s  ({r.fetched} in {r.bare_seconds:.1f} s, {r.unparsed} unparseable)
  full      hub run --once     {rate:8.0f} msgs/s  ({n} in {full.seconds:.1f} s to the summary line)
  ratio     full/bare          {rate / bare:8.2f}         (target >= 0.50)
  peak RSS  hub process        {full.peak_rss_mb:8.0f} MB      (ru_maxrss)
{_tree_lines(full, r.floor)}
  hub CPU   {full.cpu_seconds:.0f} s of {full.total_seconds:.0f} s wall ({full.cpu_seconds / full.total_seconds:.0%}; \
the hub's process and the parse worker it reaped, intake and delivery)
{_cpu_lines(r, bare)}
  fixed     start-up {r.idle.seconds:.1f} s (a run on the empty inbox)
  outbox    {r.letters["sent"]} of {sum(r.letters.values())} letters delivered after the summary line in \
{full.outbox_seconds:.1f} s ({r.letters["sent"] / max(full.outbox_seconds, 1e-9):.0f}/s, into the sent Maildir)\
{f"; stopped after {DELIVERY_WINDOW:.0f} s" if full.stopped else ""}
  projected {PROJECT_TO:,} messages     {PROJECT_TO / rate / 60:6.1f} min     (linear; target < 10 min)
  fates     expected  {' '.join(f'{f}={r.expected[f]}' for f in FATES)}
            hub said  {' '.join(f'{f}={full.fates[f]}' for f in FATES)}
  tally     on_cases={counts.on_cases} + triage={counts.triage} + quarantine={counts.quarantine} \
+ duplicates={duplicates} = {accounted} (N={n}); cases={counts.cases}
  folders   {' '.join(f'{k}={v}' for k, v in r.folders.items())}
  stderr    {stderr}
  checks    {' '.join(f'{k}: {"ok" if v else "FAILED"}' for k, v in checks.items())}""")


if __name__ == "__main__":
    sys.exit(main())
