"""A hub killed between a reminder falling due and its letter going sends the letter once.

700 open cases each have a check-in due; `hub run --once` is SIGKILLed as soon as the sweep has
committed its first batch (the reminders done, their letters in the outbox, most of them unsent), then
run again: every case gets exactly one check-in, and every reminder is done once with one next check-in.
"""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from hub.core.app import Hub
from hub.core.models import Case, Outbox, Party, Reminder
from tests.helpers import START, make_office

CASES = 700  # two sweep batches (500 each)
DUE = START - timedelta(minutes=5)


def _open_cases(hub: Hub) -> None:
    with hub.sessions.begin() as session:
        connection = session.connection()
        people = connection.execute(insert(Party).returning(Party.id, sort_by_parameter_order=True), [
            dict(role="constituent", name=f"Person {n}", email=f"p{n}@example.com",
                 created_at=START - timedelta(days=60))
            for n in range(CASES)]).scalars().all()
        cases = connection.execute(insert(Case).returning(Case.id, sort_by_parameter_order=True), [
            dict(ref=str(hub.refs.make(26, n + 1)), status="open", labels=[], subject=f"Problem {n}",
                 constituent_id=person, assignee="maria.lopez@doe.example.gov",
                 opened_at=START - timedelta(days=60), updated_at=START - timedelta(days=60))
            for n, person in enumerate(people)]).scalars().all()
        connection.execute(insert(Reminder), [
            dict(case_id=case, kind="checkin", due_at=DUE, state="pending", note="", owner="",
                 created_at=START - timedelta(days=30)) for case in cases])


def _count(hub: Hub, query: object) -> int:
    with hub.sessions() as session:
        return int(session.scalar(query) or 0)  # type: ignore[call-overload]


def _hub_once(config: Path) -> list[str]:
    return [sys.executable, "-m", "hub", "--config", str(config), "run", "--once", "--at", START.isoformat()]


def test_killed_between_due_and_sent_each_checkin_goes_once(tmp_path: Path, database_url: str) -> None:
    hub = make_office(tmp_path / "office", database_url)
    try:
        _open_cases(hub)
        done = select(func.count()).select_from(Reminder).where(Reminder.kind == "checkin", Reminder.state == "done")
        sent = select(func.count()).select_from(Outbox).where(Outbox.letter == "constituent-checkin",
                                                              Outbox.state == "sent")
        process = subprocess.Popen(_hub_once(hub.config.path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while _count(hub, done) == 0 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL, "the hub finished before it could be killed"
        assert process.stderr is not None
        process.stderr.close()
        killed_with = (_count(hub, done), _count(hub, sent))
        assert killed_with[0] > 0 and killed_with[1] < CASES, f"killed between due and sent: {killed_with}"

        again = subprocess.run(_hub_once(hub.config.path), capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr

        with hub.sessions() as session:
            checkins = Counter(session.scalars(select(Outbox.recipient).where(Outbox.letter == "constituent-checkin")))
            states = Counter(session.scalars(select(Outbox.state).where(Outbox.letter == "constituent-checkin")))
            reminders = Counter((kind, state) for kind, state in session.execute(select(Reminder.kind, Reminder.state)))
        assert len(checkins) == CASES and set(checkins.values()) == {1}, "one check-in queued per case"
        assert states == {"sent": CASES}
        assert reminders == {("checkin", "done"): CASES, ("checkin", "pending"): CASES}, "each done once, one next"
        delivered: Counter[str] = Counter()
        for path in (hub.config.resolve("var/sent") / "new").iterdir():
            message = email.message_from_bytes(path.read_bytes())
            if "still working on your case" in str(message["Subject"]):
                delivered[str(message["To"])] += 1
        assert len(delivered) == CASES and set(delivered.values()) == {1}, "one letter on disk per constituent"
    finally:
        hub.close()
