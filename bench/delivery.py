"""Delivery benchmark: how fast the outbox drains to an SMTP server, against a bare aiosmtplib loop to the same server.

    python3 bench/delivery.py [--database sqlite|postgresql] [--letters N] [--rounds R] [--profile FILE]

A real aiosmtpd server (tests/servers/smtp.py) on loopback, in this process, and a fresh office that sends
through it. Each round:
  queue   N/2 new constituents write in (hub.intake, untimed): each queues an acknowledgement and a
          caseworker's notice, N letters in all.
  hub     a child process opens the office and runs `hub.delivery.deliver.deliver_due` once: it claims,
          renders, checks the caps, composes, sends, marks and records every letter. Timed from the call
          to its return (the office's opening, the same for any size of outbox, is left out).
  bare    a child process connects once with aiosmtplib and sends the very bytes the server received from
          the hub in this round, one `sendmail` after another: the wire's own speed with this server.
Rounds alternate the two, so that the machine's other work falls on both alike. Beside the rates, the CPU a letter
took: the hub's in its delivery, the mail server's (this process's) and the database server's while the hub's child
ran (its opening of the office too, when the mail server has nothing to do), the mail server's while the bare
loop's did (bench/cpu_split.py). The ratio is hub / bare
letters a second; the target is 0.5. Every letter must reach the server once: the run fails otherwise.
`--profile FILE` runs the hub's side under cProfile (read with `python3 -m pstats FILE`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.cpu_split import read_cpu  # noqa: E402
from hub.core.app import open_hub  # noqa: E402
from hub.core.clock import FixedClock  # noqa: E402
from hub.core.models import Outbox  # noqa: E402
from tests.helpers import START, email, feed, make_office  # noqa: E402
from tests.servers.smtp import SmtpServer, running_smtp  # noqa: E402

ROUND = timedelta(hours=1)
CHILD_TIMEOUT = 1800


@dataclass(frozen=True)
class Round:
    letters: int
    hub_seconds: float
    hub_cpu: float  # the hub process's CPU seconds in its delivery
    bare_seconds: float
    server_cpu: float = 0.0  # the mail server's (this process's) CPU seconds while the hub's child ran
    database_cpu: float = 0.0  # the database server's meanwhile (PostgreSQL's processes; 0 for SQLite)
    bare_server_cpu: float = 0.0  # the mail server's CPU seconds while the bare loop's child ran

    @property
    def hub_rate(self) -> float:
        return self.letters / self.hub_seconds

    @property
    def bare_rate(self) -> float:
        return self.letters / self.bare_seconds


def hub_child(config: Path, at: datetime, out: Path, profile: str) -> None:
    """Deliver what is due at `at`; write the seconds it took and the CPU seconds of the process meanwhile."""
    from hub.delivery.deliver import deliver_due

    hub = open_hub(config, FixedClock(at))
    started, cpu = time.perf_counter(), time.process_time()
    if profile:
        import cProfile

        cProfile.runctx("deliver_due(hub)", globals(), {"deliver_due": deliver_due, "hub": hub}, profile)
    else:
        deliver_due(hub)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    hub.close()
    out.write_text(json.dumps([seconds, cpu]))


def bare_child(url: str, letters: Path, out: Path) -> None:
    """Send each letter of the file (JSON: sender, recipients, the bytes as Latin-1) over one connection."""
    import aiosmtplib

    host, port = url.removeprefix("smtp://").rsplit(":", 1)
    batch = [(sender, recipients, raw.encode("latin-1")) for sender, recipients, raw in json.loads(letters.read_text())]

    async def send_all() -> float:
        client = aiosmtplib.SMTP(hostname=host, port=int(port), start_tls=False)
        await client.connect()
        started = time.perf_counter()
        for sender, recipients, raw in batch:
            await client.sendmail(sender, recipients, raw)
        seconds = time.perf_counter() - started
        await client.quit()
        return seconds

    out.write_text(json.dumps(asyncio.run(send_all())))


def child(out: Path, *arguments: str) -> Any:
    subprocess.run([sys.executable, __file__, *arguments], check=True, timeout=CHILD_TIMEOUT)
    return json.loads(out.read_text())


def measure(args: argparse.Namespace, work: Path, smtp: SmtpServer, url: str) -> list[Round]:
    hub = make_office(work / "office", url, outbound_url=smtp.url())
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    rounds, people = [], 0
    for number in range(args.rounds):
        at = START + number * ROUND
        clock.at = at
        for _ in range(args.letters // 2):
            feed(hub, email(sender=f"Person {people} <person{people}@example.com>", subject=f"Problem {people}",
                            body=f"My claim number {people} is stuck.", message_id=f"<delivery-{people}@example.com>"))
            people += 1
        with hub.sessions() as session:
            due = session.scalar(select(func.count()).select_from(Outbox).where(Outbox.state == "pending")) or 0
        before = len(smtp.messages)
        out = work / "hub.json"
        before_cpu, server_before = read_cpu(os.getpid()), time.process_time()
        hub_seconds, hub_cpu = child(out, "--hub-child", str(hub.config.path), at.isoformat(), str(out),
                                     args.profile if number == 0 and args.profile else "")
        server_cpu, database_cpu = (time.process_time() - server_before,
                                    read_cpu(os.getpid()).since(before_cpu)["database server"])
        received = smtp.messages[before:]
        if len(received) != due or len({m.message.get("Message-ID") for m in received}) != due:
            sys.exit(f"round {number + 1}: {due} letters were due, the server received {len(received)}")
        letters = work / "letters.json"
        letters.write_text(json.dumps([(m.mail_from, list(m.rcpt_tos), m.raw.decode("latin-1")) for m in received]))
        bare = work / "bare.json"
        server_before = time.process_time()
        bare_seconds = float(child(bare, "--bare-child", smtp.url(), str(letters), str(bare)))
        bare_server_cpu = time.process_time() - server_before
        del smtp.messages[before:]  # the bare copies and the hub's: memory stays flat over the rounds
        rounds.append(Round(due, hub_seconds, hub_cpu, bare_seconds, server_cpu, database_cpu, bare_server_cpu))
        print(f"  round {number + 1}: {due} letters, hub {rounds[-1].hub_rate:.0f}/s, bare "
              f"{rounds[-1].bare_rate:.0f}/s, ratio {rounds[-1].hub_rate / rounds[-1].bare_rate:.3f}, hub CPU "
              f"{hub_cpu / hub_seconds:.0%} of its time", flush=True)
    hub.close()
    return rounds


def _median_ms(rounds: list[Round], name: str) -> str:
    return f"{statistics.median(1000 * getattr(r, name) / r.letters for r in rounds):.2f}"


def main() -> int:
    if sys.argv[1:2] == ["--hub-child"]:
        hub_child(Path(sys.argv[2]), datetime.fromisoformat(sys.argv[3]), Path(sys.argv[4]), sys.argv[5])
        return 0
    if sys.argv[1:2] == ["--bare-child"]:
        bare_child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--letters", type=int, default=1000, help="letters a round (default 1,000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="", help="cProfile the first round's delivery into this file")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as folder, running_smtp() as smtp:
        if args.database == "sqlite":
            rounds = measure(args, Path(folder), smtp, f"sqlite:///{folder}/hub.db")
        else:
            from tests.postgres import PostgresDatabases

            postgres = PostgresDatabases()
            if (why := postgres.unavailable_reason()) is not None:
                sys.exit(f"cannot run: {why}")
            try:
                rounds = measure(args, Path(folder), smtp, postgres.fresh())
            finally:
                postgres.drop_all()
    load = max(load, os.getloadavg()[0])
    ratios = [r.hub_rate / r.bare_rate for r in rounds]
    print(f"""
delivery benchmark: {args.database}, {args.rounds} rounds of {args.letters} letters
  machine   {os.cpu_count()} CPUs, 1-min load average up to {load:.1f}
  hub       {statistics.median(r.hub_rate for r in rounds):.0f} letters/s (median of the rounds)
  hub CPU   {statistics.median(1000 * r.hub_cpu / r.letters for r in rounds):.2f} ms a letter (median), \
{statistics.median(r.hub_cpu / r.hub_seconds for r in rounds):.0%} of its time: the rest waits for the database or \
the mail server
  CPU       a letter (ms, medians): the hub {_median_ms(rounds, "hub_cpu")}, the mail server \
{_median_ms(rounds, "server_cpu")}, the database server {_median_ms(rounds, "database_cpu")}; \
the hub's time a letter {statistics.median(1000 * r.hub_seconds / r.letters for r in rounds):.2f}
  bare      {statistics.median(r.bare_rate for r in rounds):.0f} letters/s (aiosmtplib, one connection, same bytes); \
the mail server's CPU {_median_ms(rounds, "bare_server_cpu")} ms a letter
  ratio     {statistics.median(ratios):.3f} (median; rounds {", ".join(f"{ratio:.3f}" for ratio in ratios)}; \
target 0.5)""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
