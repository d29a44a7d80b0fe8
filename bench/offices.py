"""Offices benchmark: many offices on one PostgreSQL server, drained by 1, 2 and 4 worker processes.

    python3 bench/offices.py [--offices 50] [--messages 40] [--workers 1,2,4] [--seed S]

For each worker count W, one after another and each on offices of its own:
  1. N offices, each its own folder, hub.toml, secret and a fresh database on the test PostgreSQL
     server (tests/postgres.py), made by copying one `hub init` office (a new secret and database each);
     each office's Maildir inbox holds M messages from tests/mailgen.py (seed S + the office's number).
  2. `hub run --deployment F --once --worker K/W` for K = 1..W, side by side, as subprocesses: each
     files its share of the offices' mail and delivers the letters it caused (into each office's sent
     Maildir). Timed from the first start to the last exit; peak RSS and CPU time of each process from
     os.wait4; the most connections open at once to the offices' databases, sampled from
     pg_stat_activity every 0.2 s.
  3. Checks that every office's inbox is empty and that filed + quarantined + duplicates = N × M.
  4. With W = 1 only: one more run over the emptied inboxes, the fixed cost of an office's cycle.
The rate is N × M messages over the wall time; the scaling ratio is each W's rate over W = 1's.

With `--daemon SECONDS` it measures the daemon instead: one `hub run --deployment F` process runs all N
offices for SECONDS (their Maildir inboxes checked every 60 s, as an IMAP inbox with IDLE is), then
SIGTERM; it prints when every inbox was empty, the most connections open at once, its CPU time over the
run and its peak RSS.
"""

from __future__ import annotations

import argparse
import mailbox
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench.compiled import hub_environment  # noqa: E402
from hub.core.app import open_hub  # noqa: E402
from tests.helpers import START, make_office, tally  # noqa: E402
from tests.mailgen import office_mailbox  # noqa: E402
from tests.postgres import PostgresDatabases  # noqa: E402

DAEMON_POLL = 60  # seconds between checks of each inbox in the daemon run: IMAP's default


@dataclass(frozen=True)
class Process:
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float


@dataclass(frozen=True)
class Phase:
    workers: int
    seconds: float
    processes: list[Process]
    connections: int  # the most open at once to the offices' databases
    filed: int


def make_offices(work: Path, postgres: PostgresDatabases, count: int, messages: int, seed: int,
                 poll_seconds: int | None = None) -> tuple[Path, int]:
    """`count` offices under `work` with their inboxes filled (checked every `poll_seconds`, when given); the
    deployment file and the duplicates made."""
    make_office(work / "office-000", postgres.fresh()).close()
    if poll_seconds is not None:
        config = work / "office-000" / "config" / "hub.toml"
        every = f"\npoll_seconds = {poll_seconds}\n"
        config.write_text(config.read_text().replace("\n# poll_seconds = 60\n", every, 1))
    duplicates = 0
    lines = []
    for number in range(count):
        name = f"office-{number:03d}"
        folder = work / name
        if number:
            shutil.copytree(work / "office-000", folder, ignore=shutil.ignore_patterns("hub.db*", "inbox", "sent"))
            config = folder / "config" / "hub.toml"
            secret = f'secret = "bench-{number:06d}-{os.urandom(12).hex()}"'
            written = re.sub(r'(?m)^secret = ".*"$', secret, config.read_text())
            config.write_text(re.sub(r'(?m)^url = "postgresql\+psycopg://.*"$', f'url = "{postgres.fresh()}"', written))
        hub = open_hub(folder / "config" / "hub.toml")
        inbox = mailbox.Maildir(hub.config.resolve("var/inbox"), create=True)
        for item in office_mailbox(messages, hub.refs, START.year, seed=seed + number):
            inbox.add(item.raw)
            duplicates += item.expect == "duplicate"
        hub.close()
        lines.append(f'[[office]]\nname = "{name}"\nconfig = "{name}/config/hub.toml"\n')
    deployment = work / "deployment.toml"
    deployment.write_text("\n".join(lines))
    return deployment, duplicates


def run_workers(deployment: Path, workers: int, postgres: PostgresDatabases, log: Path) -> tuple[float, list[Process],
                                                                                                 int]:
    env = hub_environment(PYTHONUNBUFFERED="1")
    most = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal most
        while not done.wait(0.2):
            most = max(most, connections(postgres))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    with open(log, "a") as stderr:
        procs = [subprocess.Popen([sys.executable, "-m", "hub", "run", "--deployment", str(deployment), "--once",
                                   "--at", START.isoformat(), "--worker", f"{k}/{workers}"],
                                  stdout=subprocess.DEVNULL, stderr=stderr, env=env) for k in range(1, workers + 1)]
        results = []
        for proc in procs:
            _, status, usage = os.wait4(proc.pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                sys.exit(f"a worker failed (exit {os.waitstatus_to_exitcode(status)}); see {log}")
            results.append(Process(time.perf_counter() - start, usage.ru_maxrss / 1024,
                                   usage.ru_utime + usage.ru_stime))
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return seconds, results, most


def run_daemon(deployment: Path, seconds: float, postgres: PostgresDatabases, work: Path, count: int) -> None:
    most = 0
    drained_at = None
    env = hub_environment(PYTHONUNBUFFERED="1")
    start = time.perf_counter()
    with open(work / "hub.log", "a") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "hub", "run", "--deployment", str(deployment)],
                                stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        while time.perf_counter() - start < seconds:
            time.sleep(0.5)
            most = max(most, connections(postgres))
            if drained_at is None and not any(
                    os.listdir(work / f"office-{n:03d}" / "var" / "inbox" / part)
                    for n in range(count) for part in ("new", "cur")):
                drained_at = time.perf_counter() - start
        idle = connections(postgres)
        proc.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(proc.pid, 0)
    total = time.perf_counter() - start
    drained = f"{drained_at:.0f} s" if drained_at is not None else "not within the run"
    print(f"daemon, {count} offices in one process for {total:.0f} s: every inbox empty after {drained}; "
          f"at most {most} connections, {idle} at the end; CPU {usage.ru_utime + usage.ru_stime:.0f} s "
          f"({(usage.ru_utime + usage.ru_stime) / total * 100:.0f}% of a core); peak RSS "
          f"{usage.ru_maxrss / 1024:.0f} MB; exit {os.waitstatus_to_exitcode(status)}")


def connections(postgres: PostgresDatabases) -> int:
    """Connections open now to this run's databases."""
    with postgres.admin.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname LIKE :p"),
                                  {"p": f"{postgres.prefix}_%"}).scalar() or 0


def account(work: Path, count: int) -> Counter[str]:
    """Every office's inbox emptied; what its database holds."""
    found: Counter[str] = Counter()
    for number in range(count):
        hub = open_hub(work / f"office-{number:03d}" / "config" / "hub.toml")
        try:
            inbox = hub.config.resolve("var/inbox")
            found["left in inboxes"] += sum(len(os.listdir(inbox / part)) for part in ("new", "cur"))
            counts = tally(hub)
            found["filed"] += counts.messages
            found["quarantine"] += counts.quarantine
            found["cases"] += counts.cases
        finally:
            hub.close()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--offices", type=int, default=50)
    parser.add_argument("--messages", type=int, default=40, help="messages in each office's inbox")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--daemon", type=float, metavar="SECONDS", help="measure the daemon instead (see above)")
    args = parser.parse_args()
    if args.daemon:
        postgres = PostgresDatabases()
        if (why := postgres.unavailable_reason()) is not None:
            sys.exit(f"cannot run: {why}")
        work = Path(tempfile.mkdtemp(prefix="hub-offices-daemon-"))
        try:
            deployment, _ = make_offices(work, postgres, args.offices, args.messages, args.seed, DAEMON_POLL)
            run_daemon(deployment, args.daemon, postgres, work, args.offices)
        finally:
            postgres.drop_all()
            shutil.rmtree(work, ignore_errors=True)
        return 0
    counts = [int(each) for each in args.workers.split(",")]
    total = args.offices * args.messages
    print(f"{args.offices} offices × {args.messages} messages = {total} messages a run; workers {counts}; "
          f"load average {os.getloadavg()[0]:.1f} at start")
    phases: list[Phase] = []
    empty_seconds, empty_cpu = None, 0.0
    for workers in counts:
        postgres = PostgresDatabases()
        if (why := postgres.unavailable_reason()) is not None:
            sys.exit(f"cannot run: {why}")
        work = Path(tempfile.mkdtemp(prefix=f"hub-offices-{workers}-"))
        try:
            deployment, duplicates = make_offices(work, postgres, args.offices, args.messages, args.seed)
            seconds, processes, connections = run_workers(deployment, workers, postgres, work / "hub.log")
            found = account(work, args.offices)
            if found["left in inboxes"] or found["filed"] + found["quarantine"] + duplicates != total:
                sys.exit(f"not every message is accounted for: {dict(found)}, {duplicates} duplicates; see {work}")
            phases.append(Phase(workers, seconds, processes, connections, found["filed"]))
            print(f"  {workers} worker(s): {seconds:.1f} s, {total / seconds:.0f} msgs/s; peak RSS "
                  f"{', '.join(f'{p.peak_rss_mb:.0f}' for p in processes)} MB; CPU "
                  f"{', '.join(f'{p.cpu_seconds:.0f}' for p in processes)} s; at most {connections} connections; "
                  f"{found['cases']} cases, {found['quarantine']} quarantined, {duplicates} duplicates", flush=True)
            if workers == 1:
                empty_seconds, (empty,), _ = run_workers(deployment, 1, postgres, work / "hub.log")
                empty_cpu = empty.cpu_seconds
                print(f"  1 worker over the emptied inboxes: {empty_seconds:.1f} s, "
                      f"{empty_seconds / args.offices * 1000:.0f} ms an office's cycle", flush=True)
        finally:
            postgres.drop_all()
            shutil.rmtree(work, ignore_errors=True)
    report(phases, total, args.offices, empty_seconds, empty_cpu)
    return 0


def report(phases: list[Phase], total: int, offices: int, empty_seconds: float | None, empty_cpu: float) -> None:
    base = total / phases[0].seconds
    print(f"\n| workers | seconds | msgs/s | ratio to {phases[0].workers} | peak RSS per process (MB) "
          "| CPU ms a message | most connections |")
    print("|---|---|---|---|---|---|---|")
    for phase in phases:
        rate = total / phase.seconds
        print(f"| {phase.workers} | {phase.seconds:.1f} | {rate:.0f} | {rate / base:.2f} | "
              f"{max(p.peak_rss_mb for p in phase.processes):.0f} | "
              f"{sum(p.cpu_seconds for p in phase.processes) / total * 1000:.0f} | {phase.connections} |")
    if empty_seconds is not None:
        print(f"\nfixed cost of an office's cycle (empty inbox, one worker): {empty_seconds / offices:.2f} s "
              f"wall, {empty_cpu / offices:.2f} s CPU")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    sys.exit(main())
