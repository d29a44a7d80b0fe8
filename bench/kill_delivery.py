"""Kill benchmark: how often a SIGKILL during delivery makes a letter reach the SMTP server twice.

    python3 bench/kill_delivery.py [--database sqlite|postgresql] [--kills K] [--batch B] [--delay SECONDS] [--seed S]
                                   [--no-sent-folder]

A real aiosmtpd server (tests/servers/smtp.py) on loopback and a fresh office that sends through it. As Microsoft
365 and Google Workspace do, the server files every message it accepts in the Sent folder of the office's mailbox
(an IMAP APPEND to a private Dovecot, tests/servers/dovecot.py, before its 250), and that Dovecot is the office's
inbox, so a letter a kill left in doubt is looked for there before it goes again (hub.delivery.in_doubt);
--no-sent-folder leaves both out (a Maildir inbox: every letter in doubt goes again). Then:
  kills     round after round: the bench files B constituent messages (each queues an acknowledgement and a
            caseworker's notice) whenever fewer than B letters wait, starts `hub run --once` as a subprocess,
            and once the server has the round's first DATA, waits a random time in [0, --delay] s (fixed seed)
            and SIGKILLs it; until K kills landed. Each round runs with `--at` one lease later than the last,
            so the row a killed run held goes again in the next.
  finish    `hub run --once` without a kill until nothing is due.
  window    B more constituents' letters delivered by `hub.delivery.deliver.deliver_due` in a child process that notes
            the end of every sent journal line and every commit (and of every statement run in autocommit):
            for each letter, the time from the end of its DATA at the server (just before the server answers
            250) to the end of the first of them after it. A kill inside that window sends the letter again.
Then it counts, by Message-ID: letters the server received more than once, and letters never received
(every outbox row must end sent, with its sent message recorded on the case), and letters found in the Sent
folder (marked sent without going again). The window is also estimated
from the kills alone: duplicates per kill times the time a letter takes (the kill rounds' letters received
between their first DATA and their kill, over the time between the two).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, func, select  # noqa: E402

from bench.compiled import hub_environment  # noqa: E402
from hub.core.app import Hub, open_hub  # noqa: E402
from hub.core.clock import FixedClock  # noqa: E402
from hub.core.models import Message, Outbox  # noqa: E402
from hub.delivery.deliver import LEASE, deliver_due  # noqa: E402
from hub.delivery.sent_journal import SentJournal  # noqa: E402
from tests.helpers import START, email, feed, make_office  # noqa: E402
from tests.servers.dovecot import DovecotServer, dovecot_unavailable_reason, running_dovecot  # noqa: E402
from tests.servers.smtp import CapturedMessage, SmtpServer, running_smtp  # noqa: E402

FIRST_DATA_TIMEOUT = 60.0
RUN_TIMEOUT = 300.0
ROUND = LEASE + timedelta(minutes=1)  # each round's --at: the last round's leases have run out
SENT = "Sent Items"


class FirstData:
    """Set when the server reaches the end of a DATA; cleared by the bench before each round."""

    def __init__(self) -> None:
        self.seen = threading.Event()
        # time.monotonic() at the end of each DATA (the same clock in every process on the machine); the
        # message is parsed later, not while the server has yet to answer.
        self.times: list[tuple[float, CapturedMessage]] = []

    def __call__(self, message: CapturedMessage) -> None:
        self.times.append((time.monotonic(), message))
        self.seen.set()


@dataclass(frozen=True)
class Results:
    load: float
    kills: int
    finished_early: int         # rounds that ended before their kill
    rounds_seconds: float
    letters: int                # outbox rows
    states: Counter[str]
    unrecorded: int             # sent rows without their sent message on the case
    received: int               # messages the server accepted
    twice: int                  # letters the server accepted more than once
    extra_copies: int           # copies beyond the first
    never: int                  # sent or not: outbox rows whose Message-ID never reached the server
    found_in_sent: int          # letters in doubt found in the Sent folder, marked sent without going again
    windows_ms: list[float]
    letter_ms: float            # a letter's time in the kill rounds


class Office:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.clock = hub.clock
        assert isinstance(self.clock, FixedClock)
        self.people = 0

    def file(self, count: int, at: datetime) -> None:
        """`count` new constituents write in: two letters each (the acknowledgement and the notice)."""
        assert isinstance(self.clock, FixedClock)
        self.clock.at = at
        for _ in range(count):
            n = self.people
            self.people += 1
            feed(self.hub, email(sender=f"Person {n} <person{n}@example.com>", subject=f"Problem {n}",
                                 body=f"My claim number {n} is stuck.", message_id=f"<kill-bench-{n}@example.com>"))

    def waiting(self) -> int:
        with self.hub.sessions() as session:
            return session.scalar(select(func.count()).select_from(Outbox).where(
                Outbox.state.in_(("pending", "sending")))) or 0


def hub_once(config: Path, at: datetime, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as stderr:
        return subprocess.Popen([sys.executable, "-m", "hub", "--config", str(config), "run", "--once",
                                 "--at", at.isoformat()], stdout=subprocess.DEVNULL, stderr=stderr,
                                env=hub_environment())


def measure(args: argparse.Namespace, work: Path, smtp: SmtpServer, url: str, mailbox: DovecotServer | None) -> Results:
    load = os.getloadavg()[0]
    rng = random.Random(args.seed)
    if mailbox is not None:
        smtp.file_sent_mail(mailbox, SENT)
        os.environ["HUB_INBOX_PASSWORD"] = mailbox.password  # for the hub processes
    hub = make_office(work / "office", url, outbound_url=smtp.url(),
                      inbox_url=mailbox.imap_url() if mailbox is not None else None)
    office, config, log = Office(hub), hub.config.path, work / "hub.log"
    first = FirstData()
    smtp.on_data(first)
    kills = early = rounds = 0
    started = time.perf_counter()
    at = START
    killed_after, letters_before_kill = 0.0, 0
    while kills < args.kills:
        at = START + rounds * ROUND
        rounds += 1
        if office.waiting() < args.batch:
            office.file(args.batch, at)
        first.seen.clear()
        process = hub_once(config, at, log)
        if not first.seen.wait(FIRST_DATA_TIMEOUT):
            process.kill()
            sys.exit(f"round {rounds}: nothing reached the SMTP server within {FIRST_DATA_TIMEOUT:.0f} s; see {log}")
        seen_at, received = time.monotonic(), len(smtp.messages) + len(smtp.rejected)
        time.sleep(rng.uniform(0, args.delay))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed_after += time.monotonic() - seen_at
            letters_before_kill += len(smtp.messages) + len(smtp.rejected) - received
        code = process.wait(RUN_TIMEOUT)
        if code == -signal.SIGKILL:
            kills += 1
        elif code == 0:
            early += 1
        else:
            sys.exit(f"round {rounds}: hub run --once exited {code}; see {log}")
    rounds_seconds = time.perf_counter() - started
    for extra in range(1, 4):  # the last killed round's lease runs out, then nothing is left
        finish = hub_once(config, at + extra * ROUND, log)
        if finish.wait(RUN_TIMEOUT) != 0:
            sys.exit(f"the finishing run exited {finish.returncode}; see {log}")
    windows = measure_window(office, first, at + 4 * ROUND, args.batch, work)
    letter_ms = 1000 * killed_after / max(letters_before_kill, 1)
    return count(hub, smtp, load, kills, early, rounds_seconds, windows, letter_ms)


def measure_window(office: Office, first: FirstData, at: datetime, people: int, work: Path) -> list[float]:
    """Per letter delivered by a child process: ms from the end of its DATA to the end of the next journal
    line or commit."""
    office.file(people, at)
    first.times.clear()
    out = work / "commits.json"
    child = subprocess.run([sys.executable, __file__, "--window-child", str(office.hub.config.path), at.isoformat(),
                            str(out)], timeout=RUN_TIMEOUT)
    if child.returncode != 0:
        sys.exit(f"the window's delivery exited {child.returncode}")
    commits = sorted(json.loads(out.read_text()))
    windows = []
    for data_end, _ in first.times:
        after = [commit for commit in commits if commit > data_end]
        if after:
            windows.append((after[0] - data_end) * 1000)
    return windows


def window_child(config: Path, at: datetime, out: Path) -> None:
    """Deliver what is due, noting when each sent journal line and each commit ends (a session's, or a
    statement's in autocommit)."""
    hub = open_hub(config, FixedClock(at))
    ends: list[float] = []
    write = SentJournal.write

    def noted(journal: SentJournal, provider: str) -> None:
        write(journal, provider)
        ends.append(time.monotonic())

    SentJournal.write = noted  # type: ignore[method-assign,assignment]  # this child only: no hook there
    event.listen(hub.sessions, "after_commit", lambda session: ends.append(time.monotonic()))

    def autocommitted(connection: Any, *args: Any) -> None:
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            ends.append(time.monotonic())

    event.listen(hub.engine, "after_cursor_execute", autocommitted)
    deliver_due(hub)
    hub.close()
    out.write_text(json.dumps(ends))


def count(hub: Hub, smtp: SmtpServer, load: float, kills: int, early: int, seconds: float,
          windows: list[float], letter_ms: float) -> Results:
    with hub.sessions() as session:
        rows = list(session.execute(select(Outbox.message_id, Outbox.state)))
        found = session.scalar(select(func.count()).select_from(Outbox).where(
            Outbox.provider_id.startswith("found in the Sent folder"))) or 0
        recorded = set(session.scalars(select(Message.dedupe_key).where(Message.direction == "out")))
    hub.close()
    copies = smtp.by_message_id()
    unrecorded = sum(1 for message_id, state in rows if state == "sent" and f"out:{message_id}" not in recorded)
    return Results(
        load=max(load, os.getloadavg()[0]), kills=kills, finished_early=early, rounds_seconds=seconds,
        letters=len(rows), states=Counter(state for _, state in rows), unrecorded=unrecorded,
        received=len(smtp.messages), twice=sum(1 for found in copies.values() if len(found) > 1),
        extra_copies=sum(len(found) - 1 for found in copies.values()),
        never=sum(1 for message_id, _ in rows if message_id not in copies), found_in_sent=found, windows_ms=windows,
        letter_ms=letter_ms)


def main() -> int:
    if sys.argv[1:2] == ["--window-child"]:
        window_child(Path(sys.argv[2]), datetime.fromisoformat(sys.argv[3]), Path(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--batch", type=int, default=20,
                        help="constituents filed whenever fewer letters than this wait (default 20: 40 letters)")
    parser.add_argument("--delay", type=float, default=0.4,
                        help="the kill comes up to this many seconds after the round's first DATA (default 0.4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-sent-folder", action="store_true",
                        help="no Sent folder to look in: the server files nothing, the inbox is a Maildir")
    args = parser.parse_args()
    if not args.no_sent_folder and (why := dovecot_unavailable_reason()) is not None:
        sys.exit(f"cannot run: {why} (or give --no-sent-folder)")
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as folder, running_smtp() as smtp, \
            contextlib.ExitStack() as stack:
        mailbox = None if args.no_sent_folder else stack.enter_context(running_dovecot(Path(folder) / "dovecot",
                                                                                       sent_folder=SENT))
        if args.database == "sqlite":
            results = measure(args, Path(folder), smtp, f"sqlite:///{folder}/hub.db", mailbox)
        else:
            from tests.postgres import PostgresDatabases

            postgres = PostgresDatabases()
            if (why := postgres.unavailable_reason()) is not None:
                sys.exit(f"cannot run: {why}")
            try:
                results = measure(args, Path(folder), smtp, postgres.fresh(), mailbox)
            finally:
                postgres.drop_all()
    report(args, results)
    return 0 if results.never == 0 and results.unrecorded == 0 and set(results.states) == {"sent"} else 1


def report(args: argparse.Namespace, r: Results) -> None:
    windows = sorted(r.windows_ms)
    p99 = windows[min(len(windows) - 1, int(len(windows) * 0.99))] if windows else float("nan")
    states = ", ".join(f"{n} {state}" for state, n in sorted(r.states.items()))
    print(f"""
kill benchmark: {args.database}, seed {args.seed}, kill within {args.delay:.2f} s of a round's first DATA, \
{"no Sent folder" if args.no_sent_folder else "the server files in the Sent folder of the office's mailbox"}
  machine   {os.cpu_count()} CPUs, 1-min load average up to {r.load:.1f}
  kills     {r.kills} SIGKILLs during delivery ({r.finished_early} rounds finished before their kill), \
{r.rounds_seconds:.0f} s
  letters   {r.letters} outbox rows: {states}; {r.unrecorded} sent without their record on the case
  server    {r.received} messages received; {r.twice} letters more than once ({r.extra_copies} extra copies); \
{r.never} letters never received
  in doubt  {r.found_in_sent} letters found in the Sent folder after a kill: marked sent, not sent again
  rate      {100 * r.extra_copies / max(r.kills, 1):.1f} duplicates per 100 kills
  window    end of DATA -> journal line or commit, over {len(windows)} letters: \
median {statistics.median(windows):.2f} ms, p99 {p99:.2f} ms, max {windows[-1]:.2f} ms
            from the kills: {r.extra_copies / max(r.kills, 1):.3f} duplicates a kill x {r.letter_ms:.1f} ms a letter \
= {r.extra_copies / max(r.kills, 1) * r.letter_ms:.2f} ms""")


if __name__ == "__main__":
    sys.exit(main())
