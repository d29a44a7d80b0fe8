"""IDLE benchmark: how soon the daemon acknowledges a message, from its delivery into the IMAP INBOX to the
acknowledgement's arrival at the SMTP server.

    python3 bench/idle.py [--messages N] [--database sqlite|postgresql] [--pause SECONDS]

A private Dovecot (tests/servers/dovecot.py) and aiosmtpd (tests/servers/smtp.py) on loopback, a fresh
office reading the one and sending through the other, then:
  idle      `hub run` with the inbox's poll interval at 600 s, so that only IDLE can explain a quick answer;
            one constituent message at a time is dropped into INBOX (as a delivery agent does), N times,
            each timed to the end of its acknowledgement's DATA at the SMTP server, with a pause between
            them for the caseworker's notice to go too.
  once      the daemon stopped, one more message in INBOX, then `hub run --once` timed the same way from
            process start: what a cron job running the cycle would cost at the very least, besides the
            wait for the next run.
Afterwards every message must be on its own case and every acknowledgement at the server exactly once.
"""

from __future__ import annotations

import argparse
import os
import statistics
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

from bench.compiled import hub_environment  # noqa: E402
from hub.core.app import open_hub  # noqa: E402
from tests.helpers import Tally, email, make_office, tally  # noqa: E402
from tests.hub_process import running_hub  # noqa: E402
from tests.servers.dovecot import DovecotServer, dovecot_unavailable_reason, running_dovecot  # noqa: E402
from tests.servers.smtp import CapturedMessage, SmtpServer, running_smtp  # noqa: E402

TIMEOUT = 60.0  # an acknowledgement later than this counts as lost and ends the run


class Arrivals:
    """When each constituent's acknowledgement reached the end of DATA (perf_counter), by address."""

    def __init__(self, smtp: SmtpServer) -> None:
        self.times: dict[str, float] = {}
        self.changed = threading.Condition()
        smtp.on_data(self._arrived)

    def _arrived(self, message: CapturedMessage) -> None:
        with self.changed:
            for address in message.rcpt_tos:
                if address.startswith("person"):
                    self.times.setdefault(address, time.perf_counter())
            self.changed.notify_all()

    def wait(self, address: str) -> float:
        with self.changed:
            if not self.changed.wait_for(lambda: address in self.times, TIMEOUT):
                sys.exit(f"no acknowledgement to {address} within {TIMEOUT:.0f} s")
            return self.times[address]


def constituent(n: int) -> tuple[str, bytes]:
    address = f"person{n}@example.com"
    return address, email(sender=f"Person {n} <{address}>", subject=f"Problem {n}",
                          body=f"My claim number {n} is stuck.\n" * 5, message_id=f"<idle-bench-{n}@example.com>")


@dataclass(frozen=True)
class Results:
    load: float
    start_line: str
    latencies: list[float]  # seconds, in the order the messages were delivered
    once: float             # `run --once`, process start to the acknowledgement
    exit_code: int
    stop_seconds: float
    tally: Tally
    acknowledged: Counter[int]  # acknowledgements by how many copies of each reached the server
    log: str


def measure(args: argparse.Namespace, work: Path, dovecot: DovecotServer, smtp: SmtpServer, url: str) -> Results:
    load = os.getloadavg()[0]
    hub = make_office(work / "office", url, inbox_url=dovecot.imap_url(), outbound_url=smtp.url())
    hub.close()
    config = hub.config.path
    config.write_text(config.read_text().replace("# poll_seconds = 60\n", "poll_seconds = 600\n", 1))
    env = {"HUB_INBOX_PASSWORD": dovecot.password}
    arrivals = Arrivals(smtp)
    latencies = []
    with running_hub(config, work / "idle.log", env, verbose=False) as daemon:
        time.sleep(args.pause)  # the jobs' first runs are over
        for n in range(args.messages):
            address, raw = constituent(n)
            delivered = time.perf_counter()
            dovecot.deliver(raw)
            latencies.append(arrivals.wait(address) - delivered)
            time.sleep(args.pause)
        exit_code, stop_seconds = daemon.stop()
    address, raw = constituent(args.messages)
    dovecot.deliver(raw)
    once_env = hub_environment(**env)  # the modules compiled before the clock starts
    started = time.perf_counter()
    once = subprocess.Popen([sys.executable, "-m", "hub", "--config", str(config), "run", "--once"],
                            env=once_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    once_seconds = arrivals.wait(address) - started
    once.wait(120)
    view = open_hub(config)
    counts = tally(view)
    view.close()
    acknowledged = Counter(len(copies) for copies in smtp.by_message_id().values()
                           if any(rcpt.startswith("person") for rcpt in copies[0].rcpt_tos))
    return Results(max(load, os.getloadavg()[0]), daemon.lines[0], latencies, once_seconds, exit_code, stop_seconds,
                   counts, acknowledged, (work / "idle.log").read_text(errors="replace"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between messages (default 2)")
    args = parser.parse_args()
    reason = dovecot_unavailable_reason()
    if reason:
        sys.exit(f"cannot run: {reason}")
    with (tempfile.TemporaryDirectory(prefix="hub-bench-") as folder,
          running_dovecot(Path(folder) / "dovecot") as dovecot, running_smtp() as smtp):
        if args.database == "sqlite":
            results = measure(args, Path(folder), dovecot, smtp, f"sqlite:///{folder}/hub.db")
        else:
            from tests.postgres import PostgresDatabases

            postgres = PostgresDatabases()
            if (why := postgres.unavailable_reason()) is not None:
                sys.exit(f"cannot run: {why}")
            try:
                results = measure(args, Path(folder), dovecot, smtp, postgres.fresh())
            finally:
                postgres.drop_all()
    report(args, results)
    return 0


def report(args: argparse.Namespace, r: Results) -> None:
    median, worst = statistics.median(r.latencies), max(r.latencies)
    n = args.messages + 1
    checks = {
        "each message on its own case": (r.tally.messages, r.tally.cases, r.tally.on_cases) == (n, n, n),
        "each acknowledgement once": r.acknowledged == Counter({1: n}),
        "exit 0 on SIGTERM": r.exit_code == 0,
        "no traceback": "Traceback" not in r.log,
    }
    print(f"""
idle benchmark: {args.messages} messages one at a time, {args.database}, {args.pause:.1f} s apart
  machine   {os.cpu_count()} CPUs, 1-min load average up to {r.load:.1f}
  daemon    {r.start_line}
  idle      INBOX -> acknowledgement at the SMTP server: median {median:.2f} s, max {worst:.2f} s (target < 5 s)
            each: {" ".join(f"{t:.2f}" for t in r.latencies)}
  once      `hub run --once`, process start -> acknowledgement: {r.once:.2f} s
  ratio     idle median / once: {median / r.once:.2f}  (polling instead adds half the interval on average: \
30 s for a 60-s poll)
  stop      SIGTERM -> exit {r.exit_code} in {r.stop_seconds:.2f} s; {r.log.count(" WARNING ")} warnings in the log
  checks    {' '.join(f'{k}: {"ok" if v else "FAILED"}' for k, v in checks.items())}""")


if __name__ == "__main__":
    sys.exit(main())
