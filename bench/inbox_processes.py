"""Several hub processes on one inbox: the time one process takes to drain a generated inbox against the
time two take together, on one database.

    python3 bench/inbox_processes.py [--messages N] [--database postgresql|sqlite] [--mode once|daemon]
                                     [--processes 2] [--seed S]

Each run gets its own private Dovecot (tests/servers/dovecot.py) whose INBOX holds the same N messages from
tests/mailgen.py (same seed), and its own fresh office and database; then 1 (the baseline) or `--processes`
hub processes start at once: `hub run --once --at START` each (`--mode once`), or the daemon, `hub run`
(`--mode daemon`). A run is timed from the processes' start until INBOX is empty (each message moved to
Processed or Quarantine); the processes are then stopped (SIGKILL for `--once`, whose delivery of the
letters the mail caused is crash-safe and not what is measured; SIGTERM for the daemons). Afterwards:
the Processed and Quarantine folders must hold N messages between them (a message moved twice would show
as an extra copy), and the database the same inbound messages and cases as the baseline's.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imapclient import IMAPClient  # noqa: E402

from bench.compiled import hub_environment  # noqa: E402
from hub.core.app import open_hub  # noqa: E402
from tests.helpers import START, Tally, make_office, tally  # noqa: E402
from tests.mailgen import office_mailbox  # noqa: E402
from tests.postgres import bench_database  # noqa: E402
from tests.servers.dovecot import DovecotServer, dovecot_unavailable_reason, running_dovecot  # noqa: E402

TIMEOUT = 1800.0  # seconds a run may take to empty the inbox


@dataclass(frozen=True)
class Run:
    processes: int
    seconds: float  # start to an empty INBOX
    folders: dict[str, int]
    tally: Tally
    tracebacks: int  # processes whose stderr holds a traceback
    readers: int  # processes that held the inbox's lease at some point (hub.run.lease_keeper's line)

    @property
    def moved(self) -> int:
        return self.folders.get("Processed", 0) + self.folders.get("Quarantine", 0)


def folders(server: DovecotServer) -> dict[str, int]:
    with IMAPClient(server.host, server.port, ssl=False, timeout=120) as imap:
        imap.login(server.user, server.password)
        return {name: int(imap.folder_status(name, ["MESSAGES"])[b"MESSAGES"])
                for name in ("INBOX", "Processed", "Quarantine") if imap.folder_exists(name)}


def one_run(args: argparse.Namespace, processes: int, work: Path) -> Run:
    with running_dovecot(work / "dovecot") as server, bench_database(args.database, work) as url:
        hub = make_office(work / "office", url, inbox_url=server.imap_url())
        config, refs = hub.config.path, hub.refs
        hub.close()
        server.deliver_many(item.raw for item in office_mailbox(args.messages, refs, START.year, seed=args.seed))
        with IMAPClient(server.host, server.port, ssl=False, timeout=120) as warm:
            warm.login(server.user, server.password)
            warm.select_folder("INBOX")  # Dovecot indexes the new Maildir: untimed, as in bench/ingest.py
        command = [sys.executable, "-m", "hub", "-v", "--config", str(config), "run",
                   *(["--once", "--at", START.isoformat()] if args.mode == "once" else [])]
        env = hub_environment(HUB_INBOX_PASSWORD=server.password, PYTHONUNBUFFERED="1")
        logs = [work / f"hub{n}.log" for n in range(processes)]
        started = time.perf_counter()
        hubs = []
        for log in logs:
            with open(log, "wb") as stderr:
                hubs.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr))
        while folders(server).get("INBOX", 0) and time.perf_counter() - started < TIMEOUT:
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        for process in hubs:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL if args.mode == "once" else signal.SIGTERM)
            process.wait(60)
        texts = [log.read_text(errors="replace") for log in logs]
        opened = open_hub(config)
        counts = tally(opened)
        opened.close()
        return Run(processes, seconds, folders(server), counts, sum("Traceback" in text for text in texts),
                   sum(": this process holds it now" in text for text in texts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--mode", choices=("once", "daemon"), default="once")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.getLogger("mailparser").setLevel(logging.ERROR)
    if (reason := dovecot_unavailable_reason()) is not None:
        sys.exit(f"cannot run: {reason}")
    load = os.getloadavg()[0]
    runs = []
    for processes in (1, args.processes):
        with tempfile.TemporaryDirectory(prefix="hub-bench-") as folder:
            runs.append(one_run(args, processes, Path(folder)))
    report(args, runs, max(load, os.getloadavg()[0]))
    return 0


def report(args: argparse.Namespace, runs: list[Run], load: float) -> None:
    one, many = runs
    n = args.messages
    lines = [f"  {run.processes} process{'es' if run.processes > 1 else '  '} {n / run.seconds:8.0f} msgs/s  "
             f"({n} in {run.seconds:.1f} s; Processed {run.folders.get('Processed', 0)}, Quarantine "
             f"{run.folders.get('Quarantine', 0)}: {run.moved - n} extra copies; {run.readers} read the inbox)"
             for run in runs]
    checks = {
        "each message moved once": all(run.moved == n and not run.folders.get("INBOX") for run in runs),
        "same filing as one process": many.tally == one.tally,
        "no traceback": not any(run.tracebacks for run in runs),
    }
    print(f"""
inbox processes benchmark: {n} messages, {args.database}, hub run{' --once' if args.mode == 'once' else ''}, \
seed {args.seed}
  machine   {os.cpu_count()} CPUs, 1-min load average up to {load:.1f} (other work skews every rate)
""" + "\n".join(lines) + f"""
  ratio     {args.processes}/1 {one.seconds / many.seconds:8.2f}           (target >= 1: never slower than one process)
  tally     messages={many.tally.messages} cases={many.tally.cases} triage={many.tally.triage} \
quarantine={many.tally.quarantine} (one process: {one.tally.messages}, {one.tally.cases}, {one.tally.triage}, \
{one.tally.quarantine})
  checks    {' '.join(f'{k}: {"ok" if v else "FAILED"}' for k, v in checks.items())}""")


if __name__ == "__main__":
    sys.exit(main())
