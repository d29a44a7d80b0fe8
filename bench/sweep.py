"""Reminder sweep benchmark: an office with 100,000 open cases, swept as the daemon sweeps it.

    python3 bench/sweep.py [--cases N] [--database sqlite|postgresql] [--days D]

The office holds N open cases (default 100,000), each with its acknowledgement sent and a check-in
pending, due spread evenly over the next 30 days; half of them also have an agency inquiry sent and an
agency follow-up pending, spread over the next 20 business days. Then, with the injected clock:
  quiet    a sweep at 10:00, when nothing is due: what the daemon pays every minute of the day
  morning  the sweep at 09:00 on each of D successive business days (default 3), when a day's
           check-ins and follow-ups fall due together: the day's peak
  baseline in the same run, the least any sweep of the morning must write: the same number of outbox
           rows inserted and reminder rows updated, in one transaction, with nothing decided
Printed: the rows due, each time, and the ratio morning/baseline. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import bindparam, func, insert, select, update  # noqa: E402

from hub.app import Hub  # noqa: E402
from hub.calendar import is_business_day  # noqa: E402
from hub.clock import FixedClock  # noqa: E402
from hub.models import Case, Outbox, Party, Reminder  # noqa: E402
from hub.schedule import days_after  # noqa: E402
from hub.sweep import sweep_due  # noqa: E402
from tests.helpers import make_office  # noqa: E402
from tests.postgres import PostgresDatabases  # noqa: E402

NEW_YORK = ZoneInfo("America/New_York")
FIRST_DAY = date(2027, 2, 1)  # a Monday
LIAISON = "liaison@ssa.example.gov"
CHUNK = 10_000


def build(hub: Hub, cases: int) -> None:
    """The office's open cases and their pending reminders, written in bulk."""
    opened = datetime(2026, 12, 1, 15, tzinfo=UTC)
    with hub.sessions.begin() as session:
        connection = session.connection()
        for start in range(0, cases, CHUNK):
            numbers = range(start, min(start + CHUNK, cases))
            people = connection.execute(insert(Party).returning(Party.id, sort_by_parameter_order=True), [
                dict(role="constituent", name=f"Person {n}", email=f"p{n}@example.com", created_at=opened)
                for n in numbers]).scalars().all()
            ids = connection.execute(insert(Case).returning(Case.id, sort_by_parameter_order=True), [
                dict(ref=str(hub.refs.make(26, n + 1)), status="open", labels=[], subject=f"Problem {n}",
                     constituent_id=person, assignee="maria.lopez@doe.example.gov", agency="ssa" if n % 2 else None,
                     opened_at=opened, updated_at=opened) for n, person in zip(numbers, people, strict=True)]
            ).scalars().all()
            outbox = [dict(case_id=case, letter="acknowledgement", recipient=f"p{n}@example.com",
                           message_id=f"<ack.{n}@bench>", state="sent", sent_at=opened, not_before=opened,
                           created_at=opened) for n, case in zip(numbers, ids, strict=True)]
            outbox += [dict(case_id=case, letter="agency-inquiry", recipient=LIAISON, message_id=f"<inq.{n}@bench>",
                            state="sent", sent_at=opened, not_before=opened, created_at=opened)
                       for n, case in zip(numbers, ids, strict=True) if n % 2]
            connection.execute(insert(Outbox), outbox)
            reminders = [dict(case_id=case, kind="checkin", due_at=_at(FIRST_DAY + timedelta(days=n % 30)),
                              state="pending", created_at=opened) for n, case in zip(numbers, ids, strict=True)]
            reminders += [dict(case_id=case, kind="agency-followup", due_at=_business((n // 2) % 20), state="pending",
                               created_at=opened) for n, case in zip(numbers, ids, strict=True) if n % 2]
            connection.execute(insert(Reminder), reminders)


def _at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=NEW_YORK).astimezone(UTC)


def _business(offset: int) -> datetime:
    day = FIRST_DAY
    while not is_business_day(day):
        day += timedelta(days=1)
    return days_after(_at(day), offset, True, _CONFIG) if offset else _at(day)


def timed_sweep(hub: Hub, moment: datetime) -> tuple[float, int]:
    assert isinstance(hub.clock, FixedClock)
    hub.clock.at = moment
    started = time.perf_counter()
    report = sweep_due(hub)
    return time.perf_counter() - started, sum(report.counts.values())


def baseline(hub: Hub, rows: int) -> float:
    """Insert `rows` outbox rows and update `rows` pending reminders in one transaction (then roll back)."""
    with hub.sessions() as session:
        connection = session.connection()
        targets = connection.execute(select(Reminder.id, Reminder.case_id).where(Reminder.state == "pending")
                                     .order_by(Reminder.due_at.desc()).limit(rows)).all()
        started = time.perf_counter()
        connection.execute(insert(Outbox), [
            dict(case_id=case, letter="constituent-checkin", recipient="x@example.com", message_id=f"<b.{rid}@x>",
                 state="pending", not_before=_at(FIRST_DAY), created_at=_at(FIRST_DAY)) for rid, case in targets])
        connection.execute(update(Reminder).where(Reminder.id == bindparam("rid")).values(state="done"),
                           [{"rid": rid} for rid, _ in targets])
        elapsed = time.perf_counter() - started
        session.rollback()
    return elapsed


_CONFIG = None  # set in main: the office's configuration, for business-day arithmetic


def main() -> None:
    global _CONFIG
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--days", type=int, default=3)
    args = parser.parse_args()
    postgres = PostgresDatabases() if args.database == "postgresql" else None
    with tempfile.TemporaryDirectory() as folder:
        url = postgres.fresh() if postgres else f"sqlite:///{Path(folder) / 'hub.db'}"
        hub = make_office(Path(folder) / "office", url, clock=FixedClock(_at(FIRST_DAY, 8)))
        _CONFIG = hub.config  # type: ignore[assignment]
        started = time.perf_counter()
        build(hub, args.cases)
        with hub.sessions() as session:
            pending = session.scalar(select(func.count()).select_from(Reminder).where(Reminder.state == "pending"))
        print(f"office: {args.cases:,} open cases, {pending:,} pending reminders ({args.database}), "
              f"built in {time.perf_counter() - started:.1f} s; load average {os.getloadavg()[0]:.2f}")
        quiet, found = timed_sweep(hub, _at(FIRST_DAY, 8))
        print(f"quiet    nothing due: {quiet * 1000:.1f} ms ({found} rows)")
        mornings = []
        day = FIRST_DAY
        while len(mornings) < args.days:
            if is_business_day(day):
                elapsed, due = timed_sweep(hub, _at(day))
                mornings.append((elapsed, due))
                print(f"morning  {day}: {due:,} reminders due, swept in {elapsed:.3f} s "
                      f"({due / elapsed:,.0f} a second)")
            day += timedelta(days=1)
        again, found = timed_sweep(hub, _at(day - timedelta(days=1), 10))
        print(f"quiet    after the mornings: {again * 1000:.1f} ms ({found} rows)")
        median = statistics.median(elapsed for elapsed, _ in mornings)
        rows = int(statistics.median(due for _, due in mornings))
        floor = baseline(hub, rows)
        print(f"baseline {rows:,} outbox inserts + reminder updates, nothing decided: {floor:.3f} s")
        print(f"ratio    morning sweep / baseline: {median / floor:.2f} (median morning {median:.3f} s; "
              f"target: under 1 s)")
        hub.close()
    if postgres:
        postgres.drop_all()


if __name__ == "__main__":
    main()
