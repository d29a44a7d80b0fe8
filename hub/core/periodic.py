"""Mail the hub sends by itself once a period (a week, a day) at a set office time: when it is due, and a
durable record that makes it go once per period and recipient.

A job asks `due_today` whether its day and time have come on the office's clock; the answer is the period
it is due for, labelled by that day's date (one label a Monday for a weekly job, one a day for a daily
one), or None. Before it queues a recipient's mail, the job `claim`s (job, period, recipient) in the same
transaction as the mail: the row in `periodic_sends` is the record that it went. Its key is unique, so
another cycle the same day, a restart, or a second daemon on the same PostgreSQL database claims nothing
and queues nothing; a crash before the commit leaves neither the mail nor the claim, and the next cycle
sends it. `claimed` says who has had theirs already, so that every cycle after the mail went costs one
small read and builds nothing.

Used by hub.schedule.caseworker_digest. A job whose period is not a day (the weekly report, which catches
up all week) claims under its own label, such as its ISO week.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from hub.core.clock import local_moment
from hub.core.config_values import WEEKDAYS
from hub.core.models import PeriodicSend


@dataclass(frozen=True)
class Period:
    label: str          # what a sending is recorded under: the office's date, 2026-11-23
    day: date           # that date, on the office's clock
    due_at: datetime    # when it fell due, UTC


def due_today(now: datetime, timezone: str, weekdays: Collection[str], at: time) -> Period | None:
    """Today's period when today, office time, is one of `weekdays` (names as in WEEKDAYS) and `at` has
    passed; None before `at`, on other days, and after the day is over (a day missed is not caught up)."""
    local = now.astimezone(ZoneInfo(timezone))
    day = local.date()
    if WEEKDAYS[day.weekday()] not in weekdays:
        return None
    due_at = local_moment(day, at, timezone)
    return Period(day.isoformat(), day, due_at) if now >= due_at else None


def claimed(connection: Connection, job: str, period: str) -> set[str]:
    """The recipients whose `job` mail of `period` is queued already."""
    return set(connection.execute(select(PeriodicSend.recipient).where(
        PeriodicSend.job == job, PeriodicSend.period == period)).scalars())


def claim(connection: Connection, job: str, period: str, recipient: str, now: datetime) -> bool:
    """Record that `recipient` gets `job`'s mail of `period`, in the caller's transaction; False when it is
    recorded already (by an earlier cycle, or another daemon), and the caller then queues nothing."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(PeriodicSend).values(job=job, period=period, recipient=recipient, at=now)
    # SQLAlchemy keeps an INSERT's row count only when asked; without it PostgreSQL's reads -1, "claimed".
    result = connection.execute(statement.on_conflict_do_nothing(index_elements=["job", "period", "recipient"])
                                .execution_options(preserve_rowcount=True))
    return bool(result.rowcount)  # type: ignore[attr-defined]
