"""The weekday triage list: each business day at the start of business hours (`[schedule] workday_start`, office
time) the intake address gets what still waits in triage, oldest first; nothing when the queue is empty, and none
on a federal holiday, when nobody is in to read it (the next day's has what waits). What came in after the due
moment had its own notice, and waits for the next day's list.

Sent once a day, across restarts and daemons: the day's sending is claimed in `periodic_sends` with the mail
(hub.core.periodic); a hub down at the due time sends it when it comes back, the same day.
"""

from __future__ import annotations

from hub.cases.triage_queue import waiting_items
from hub.core.app import Hub
from hub.core.calendar import is_business_day
from hub.core.config_values import WEEKDAYS
from hub.core.periodic import claim, claimed, due_today
from hub.letters.context import spoken_date
from hub.letters.outbox import AUTO_GENERATED, enqueue
from hub.letters.templates import TRIAGE_DIGEST
from hub.letters.triage_letters import Held, triage_digest

WORKDAYS = WEEKDAYS[:5]


def send_triage_digest_if_due(hub: Hub) -> str | None:
    """Queue today's triage list for the intake address when it is due, not yet queued, and something waits;
    returns a line saying so."""
    now, zone, intake = hub.clock.now(), hub.config.office.timezone, hub.config.office.intake_address
    period = due_today(now, zone, WORKDAYS, hub.config.schedule.workday_start)
    if period is None or not is_business_day(period.day):
        return None
    with hub.sessions() as session:
        if intake in claimed(session.connection(), TRIAGE_DIGEST, period.label):
            return None  # every cycle after the list went: one small read
    with hub.sessions.begin() as session:  # the list and its claim commit together
        connection = session.connection()
        waiting = [Held(row.id, row.received_at, row.kind, row.channel, row.sender, row.subject, row.reason)
                   for row in waiting_items(connection, period.due_at)]
        if not waiting or not claim(connection, TRIAGE_DIGEST, period.label, intake, now):
            return None
        subject, body = triage_digest(waiting, spoken_date(period.day), zone)
        enqueue(connection, case_id=None, case_ref=None, letter=TRIAGE_DIGEST, recipient=intake, refs=hub.refs,
                domain=hub.config.office.domain, now=now, automatic=AUTO_GENERATED, subject=subject, body=body)
    return f"triage list queued: {len(waiting)} message(s) waiting"
