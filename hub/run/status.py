"""`hub status`: what an administrator needs at a glance: when each source was last read and each daemon
job last ran (and their last errors), the outbox, due reminders, quarantine and triage.

Every count is an index range (outbox and reminders by state and time, triage messages among those
without a case), so the answer stays quick on a database of years.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, func, select, true
from sqlalchemy.orm import Session

from hub.core.app import Hub
from hub.core.clock import as_utc
from hub.core.models import Message, Outbox, QuarantineItem, Reminder, SourceCursor
from hub.run.heartbeat import JOB_PREFIX

JOB_ORDER = ("inbox", "sms", "outbox", "reminders", "report")


def status_lines(hub: Hub) -> list[str]:
    now = hub.clock.now()
    with hub.sessions() as session:
        return [*_runs(session, now), *_outbox(session, now), *_counts(session, now)]


def _runs(session: Session, now: datetime) -> list[str]:
    cursors = list(session.scalars(select(SourceCursor).order_by(SourceCursor.source)))
    sources = [cursor for cursor in cursors if not cursor.source.startswith(JOB_PREFIX)]
    jobs = sorted((cursor for cursor in cursors if cursor.source.startswith(JOB_PREFIX)),
                  key=lambda cursor: _job_rank(cursor.source[len(JOB_PREFIX):]))
    lines = [f"source {cursor.source}: {_health(cursor, now)}" for cursor in sources]
    lines += [f"job {cursor.source[len(JOB_PREFIX):]}: {_health(cursor, now)}" for cursor in jobs]
    if not jobs:
        lines.append("jobs: none has run here yet (they run under `hub run`)")
    return lines


def _job_rank(name: str) -> tuple[int, str]:
    return (JOB_ORDER.index(name) if name in JOB_ORDER else len(JOB_ORDER), name)


def _health(cursor: SourceCursor, now: datetime) -> str:
    success = cursor.last_success_at
    line = f"last success {_when(success, now)}" if success else "last success never"
    return line + (f"; last error {cursor.last_error}" if cursor.last_error else "")


def _outbox(session: Session, now: datetime) -> list[str]:
    waiting_states = Outbox.state.in_(("pending", "sending"))
    waiting, retrying = session.execute(select(func.count(), func.coalesce(func.sum(case((Outbox.attempts > 0, 1),
                                                                                         else_=0)), 0))
                                        .where(waiting_states)).one()
    due, oldest = session.execute(select(func.count(), func.min(Outbox.not_before))
                                  .where(Outbox.state == "pending", Outbox.not_before <= now)).one()
    failed = session.scalar(select(func.count()).select_from(Outbox).where(Outbox.state == "failed"))
    unrecorded = session.scalar(select(func.count()).select_from(Outbox).where(Outbox.unrecorded == true()))
    line = f"outbox: {waiting} waiting"
    if waiting:
        line += f" ({due} due now" + (f", the oldest due since {_when(oldest, now)}" if oldest else "")
        line += f"; {retrying} retrying after a failure)" if retrying else ")"
    line += f"; {failed} failed"
    if unrecorded:  # an interruption between the sent mark and the record (hub.delivery.sent_record)
        line += f"; {unrecorded} sent, not yet recorded on their case (the next delivery does it)"
    return [line]


def _counts(session: Session, now: datetime) -> list[str]:
    due = session.scalar(select(func.count()).select_from(Reminder)
                         .where(Reminder.state == "pending", Reminder.due_at <= now))
    held = session.scalar(select(func.count()).select_from(QuarantineItem).where(QuarantineItem.state == "held"))
    # A triage message never has a case (it waits for someone to place it): counting among the messages
    # without one keeps to the case_id index instead of reading every message.
    triage = session.scalar(select(func.count()).select_from(Message)
                            .where(Message.case_id.is_(None), Message.disposition == "triage"))
    return [f"reminders due: {due}", f"quarantine: {held} held", f"triage: {triage} waiting for a caseworker"]


def _when(moment: datetime, now: datetime) -> str:
    moment = as_utc(moment)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({_ago(now - moment)})"


def _ago(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    later = "from now" if seconds < 0 else "ago"  # recorded by `hub run --once --at` a later time
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} {later}"
    return f"{seconds} s {later}"
