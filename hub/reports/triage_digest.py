"""The weekday triage list: each weekday at the start of business hours (`[schedule] workday_start`, office time)
the intake address gets what still waits in triage, oldest first; nothing when the queue is empty. What came in
after the due moment had its own notice, and waits for the next day's list.

Sent once a day, across restarts and daemons (hub.letters.once_per_period); a hub down at the due time sends it
when it comes back, the same day.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from hub.cases.triage_queue import waiting_items
from hub.core.app import Hub
from hub.core.clock import local_moment
from hub.letters.context import spoken_date
from hub.letters.once_per_period import is_queued, queue_once
from hub.letters.outbox import AUTO_GENERATED, enqueue
from hub.letters.templates import TRIAGE_DIGEST
from hub.letters.triage_letters import Held, triage_digest

SATURDAY = 5


def digest_moment(hub: Hub, now: datetime) -> datetime | None:
    """Today's due moment in UTC, or None on a weekend (office time)."""
    zone = hub.config.office.timezone
    today = now.astimezone(ZoneInfo(zone)).date()
    if today.weekday() >= SATURDAY:
        return None
    return local_moment(today, hub.config.schedule.workday_start, zone)


def send_triage_digest_if_due(hub: Hub) -> str | None:
    """Queue today's triage list for the intake address when it is due, not yet queued, and something waits;
    returns a line saying so."""
    now = hub.clock.now()
    due_at = digest_moment(hub, now)
    if due_at is None or now < due_at:
        return None
    with hub.sessions() as session:
        if is_queued(session, TRIAGE_DIGEST, due_at):
            return None

    def queue(session: Session) -> int:
        connection = session.connection()
        waiting = [Held(row.id, row.received_at, row.kind, row.channel, row.sender, row.subject, row.reason)
                   for row in waiting_items(connection, due_at)]
        if not waiting:
            return 0
        zone = hub.config.office.timezone
        subject, body = triage_digest(waiting, spoken_date(now.astimezone(ZoneInfo(zone)).date()), zone)
        enqueue(connection, case_id=None, case_ref=None, letter=TRIAGE_DIGEST,
                recipient=hub.config.office.intake_address, refs=hub.refs, domain=hub.config.office.domain, now=now,
                automatic=AUTO_GENERATED, subject=subject, body=body)
        return len(waiting)

    count = queue_once(hub.sessions, TRIAGE_DIGEST, due_at, queue)
    return f"triage list queued: {count} message(s) waiting" if count else None
