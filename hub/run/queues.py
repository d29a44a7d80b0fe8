"""How much waits, and since when: the outbox, the reminders that are due, quarantine and triage, for
`hub status` and the metrics.

Every count is an index range (outbox and reminders by state and time, triage messages among those
without a case), so the answer stays quick on a database of years.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select, true
from sqlalchemy.orm import Session

from hub.core.clock import as_utc
from hub.core.models import Message, Outbox, QuarantineItem, Reminder


@dataclass(frozen=True)
class Queues:
    waiting: int                    # outbox rows pending or being sent
    retrying: int                   # among them, rows tried before (a temporary failure)
    due: int                        # pending rows whose time has come
    oldest_due_at: datetime | None  # the time the longest-waiting of them became due
    failed: int                     # rows refused for good
    unrecorded: int                 # sent, not yet recorded on their case
    reminders_due: int
    oldest_reminder_due_at: datetime | None  # how late the sweep is: the oldest pending reminder due
    quarantine: int                 # items held
    triage: int                     # messages waiting for a caseworker


def queues(session: Session, now: datetime) -> Queues:
    waiting, retrying = session.execute(select(func.count(), func.coalesce(func.sum(case((Outbox.attempts > 0, 1),
                                                                                         else_=0)), 0))
                                        .where(Outbox.state.in_(("pending", "sending")))).one()
    due, oldest = session.execute(select(func.count(), func.min(Outbox.not_before))
                                  .where(Outbox.state == "pending", Outbox.not_before <= now)).one()
    failed = session.scalar(select(func.count()).select_from(Outbox).where(Outbox.state == "failed")) or 0
    unrecorded = session.scalar(select(func.count()).select_from(Outbox).where(Outbox.unrecorded == true())) or 0
    reminders, oldest_reminder = session.execute(select(func.count(), func.min(Reminder.due_at))
                                                 .where(Reminder.state == "pending", Reminder.due_at <= now)).one()
    held = session.scalar(select(func.count()).select_from(QuarantineItem).where(QuarantineItem.state == "held")) or 0
    # A triage message never has a case (it waits for someone to place it): counting among the messages
    # without one keeps to the case_id index instead of reading every message.
    triage = session.scalar(select(func.count()).select_from(Message)
                            .where(Message.case_id.is_(None), Message.disposition == "triage")) or 0
    return Queues(waiting, retrying, due, oldest and as_utc(oldest), failed, unrecorded, reminders,
                  oldest_reminder and as_utc(oldest_reminder), held, triage)
