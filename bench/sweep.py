"""Reminder sweep benchmark: an office with 100,000 open cases, swept as the daemon sweeps it.

    python3 bench/sweep.py [--cases N] [--database sqlite|postgresql] [--days D]

The office holds N open cases (default 100,000), each with its acknowledgement sent and a check-in
pending, due spread evenly over the next 30 days; half of them also have an agency inquiry sent and an
agency follow-up pending, spread over the next 20 business days. Then, with the injected clock:
  quiet    a sweep at 08:00, when nothing is due: what the daemon pays most minutes of the day
  morning  on each of D successive business days (default 3), the daemon's sweeps of the office's first
           hour, one a minute from 09:00 to 09:59, when the day's check-ins and follow-ups fall due
           (each case at 09:00 plus its own minute, hub.cases.due_dates.spread): the slowest minute, and the
           whole hour's work added up
  backlog  the same day's work swept at once, as after a night the hub was down: one sweep at 10:00
  baseline in the same run, the least any sweep of that backlog must write: the same number of outbox
           rows inserted and reminder rows updated, in one transaction, with nothing decided
Printed: the rows due and the times; the ratios backlog/baseline and slowest minute/target. Nothing is
asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import bindparam, func, insert, select, update  # noqa: E402

from hub.cases.due_dates import days_after, spread  # noqa: E402
from hub.core.app import Hub  # noqa: E402
from hub.core.calendar import is_business_day  # noqa: E402
from hub.core.clock import FixedClock  # noqa: E402
from hub.core.models import Case, Outbox, Party, Reminder  # noqa: E402
from hub.schedule.sweep import sweep_due  # noqa: E402
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
            # Due as the hub sets them: the start of the office's day plus the case's own minute. Cases opened
            # on the same day have neighbouring numbers and fall due on the same day, as in an office.
            reminders = [dict(case_id=case, kind="checkin", state="pending", created_at=opened,
                              due_at=spread(_at(FIRST_DAY + timedelta(days=n * 30 // cases)), case))
                         for n, case in zip(numbers, ids, strict=True)]
            reminders += [dict(case_id=case, kind="agency-followup", state="pending", created_at=opened,
                               due_at=spread(_business(n * 20 // cases), case))
                          for n, case in zip(numbers, ids, strict=True) if n % 2]
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
        slowest: list[float] = []
        day = FIRST_DAY
        while len(slowest) < args.days:
            if is_business_day(day):
                minutes = [timed_sweep(hub, _at(day) + timedelta(minutes=minute)) for minute in range(60)]
                worst = max(minutes)
                slowest.append(worst[0])
                print(f"morning  {day}: {sum(due for _, due in minutes):,} reminders due over 09:00-09:59; slowest "
                      f"minute {worst[0] * 1000:.0f} ms ({worst[1]} due), the hour's sweeps together "
                      f"{sum(elapsed for elapsed, _ in minutes):.2f} s")
            day += timedelta(days=1)
        while not is_business_day(day):
            day += timedelta(days=1)
        backlog, due = timed_sweep(hub, _at(day, 10))
        print(f"backlog  {day}: {due:,} reminders due at once (the hub was down overnight), swept in {backlog:.2f} s "
              f"({due / backlog:,.0f} a second)")
        again, found = timed_sweep(hub, _at(day, 11))
        print(f"quiet    after it: {again * 1000:.1f} ms ({found} rows)")
        floor = baseline(hub, due)
        print(f"baseline {due:,} outbox inserts + reminder updates, nothing decided: {floor:.2f} s")
        print(f"ratio    backlog / baseline: {backlog / floor:.2f}; slowest minute of the mornings "
              f"{max(slowest) * 1000:.0f} ms against the target of 1 s: {max(slowest):.2f}")
        hub.close()
    if postgres:
        postgres.drop_all()


if __name__ == "__main__":
    main()
