"""`hub status`: what an administrator needs at a glance."""

from __future__ import annotations

from sqlalchemy import func, select

from hub.app import Hub
from hub.models import Message, Outbox, QuarantineItem, Reminder, SourceCursor
from hub.views import iso


def status_lines(hub: Hub) -> list[str]:
    now = hub.clock.now()
    with hub.sessions() as session:
        lines = []
        for cursor in session.scalars(select(SourceCursor).order_by(SourceCursor.source)):
            error = f"  last error: {cursor.last_error}" if cursor.last_error else ""
            lines.append(f"source {cursor.source}: last success {iso(cursor.last_success_at) or 'never'}{error}")
        depth, oldest = session.execute(select(func.count(), func.min(Outbox.created_at))
                                        .where(Outbox.state.in_(("pending", "sending")))).one()
        failed = session.scalar(select(func.count()).select_from(Outbox).where(Outbox.state == "failed"))
        lines.append(f"outbox: {depth} waiting" + (f", oldest since {iso(oldest)}" if oldest else "")
                     + f"; {failed} failed")
        due = session.scalar(select(func.count()).select_from(Reminder)
                             .where(Reminder.state == "pending", Reminder.due_at <= now))
        lines.append(f"reminders due: {due}")
        held = session.scalar(select(func.count()).select_from(QuarantineItem).where(QuarantineItem.state == "held"))
        lines.append(f"quarantine: {held} held")
        triage = session.scalar(select(func.count()).select_from(Message).where(Message.disposition == "triage"))
        lines.append(f"triage: {triage} waiting for a caseworker")
    return lines
