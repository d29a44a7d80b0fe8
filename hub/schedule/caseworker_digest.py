"""The caseworkers' Monday digest: each Monday from `[schedule] caseworker_digest_time` (office time) every
staff member with open cases gets one mail: what is overdue, what falls due this week, and their open
cases (reference, constituent, agency, status, age).

Due and overdue are the reminders `hub cases --overdue` counts (an agency's answer, the caseworker's own
#followup, a check-in with the constituent), on the person's open cases: overdue when past their time and
still pending, due this week when they fall before next Monday, office time. Each person's mail is
claimed in hub.core.periodic in the transaction that queues it, so it goes once a Monday whatever the
cycles, restarts, crashes or daemons; a Monday the hub is down all day has none. Nobody with no open case
gets one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from hub.cases.due_dates import AGENCY_FOLLOWUP, CASEWORKER_FOLLOWUP, CHECKIN, OVERDUE_KINDS
from hub.cases.letter_send import letters_of
from hub.core.app import Hub
from hub.core.clock import local_moment
from hub.core.config import Config
from hub.core.models import Case, Party, Reminder
from hub.core.periodic import Period, claim, claimed, due_today
from hub.letters.context import office_context, staff_fields
from hub.letters.outbox import AUTO_GENERATED, enqueue

log = logging.getLogger(__name__)
LETTER = JOB = "caseworker-digest"
DAY = "monday"
WHAT_IS_DUE = {AGENCY_FOLLOWUP: "answer due from {agency}", CASEWORKER_FOLLOWUP: "your follow-up",
               CHECKIN: "check-in letter to the constituent"}


@dataclass(frozen=True)
class OpenCase:
    id: int
    ref: str
    constituent: str
    agency: str
    status: str
    opened_at: datetime


@dataclass(frozen=True)
class Due:
    case: OpenCase
    what: str
    at: datetime


def send_digests_if_due(hub: Hub) -> str | None:
    """Queue this Monday's digest for each caseworker with open cases who has not had it; returns a line
    saying so, or None when nothing was queued."""
    schedule, timezone, now = hub.config.schedule, hub.config.office.timezone, hub.clock.now()
    period = due_today(now, timezone, (DAY,), schedule.caseworker_digest_time) if schedule.caseworker_digest else None
    if period is None:
        return None
    week_end = local_moment(period.day + timedelta(days=7), time(0), timezone)
    queued = 0
    with hub.sessions() as session:
        done = claimed(session.connection(), JOB, period.label)
    for person in hub.config.staff:
        if person.email in done:
            continue
        with hub.sessions.begin() as session:  # one person's digest and its claim commit together
            connection = session.connection()
            cases = _open_cases(connection, hub.config, person.email)
            if not cases or not claim(connection, JOB, period.label, person.email, now):
                continue
            due = _due(connection, cases, week_end)
            subject, text = digest_text(cases, due, now, period, ZoneInfo(timezone))
            context = office_context(hub.config, now, {"notice": subject, "text": text})
            context["caseworker"] = staff_fields(person)
            letter = letters_of(hub).render(LETTER, context)
            # Rendered now, as a list by mail is: a letter on no case has no case to be filled in from later.
            enqueue(connection, case_id=None, case_ref=None, letter=LETTER, recipient=person.email, refs=hub.refs,
                    domain=hub.config.office.domain, now=now, automatic=AUTO_GENERATED, subject=letter.subject,
                    body=letter.body)
            queued += 1
    if not queued:
        return None
    log.info("caseworker digest %s queued for %d caseworker(s)", period.label, queued)
    return f"caseworker digest queued for {queued} caseworker(s)"


def digest_text(cases: list[OpenCase], due: list[Due], now: datetime, period: Period,
                zone: ZoneInfo) -> tuple[str, str]:
    """The subject line and the lists: overdue, due this week, open cases (oldest first)."""
    overdue = [item for item in due if item.at < now]
    coming = [item for item in due if item.at >= now]
    subject = (f"Your cases, week of {period.day:%B} {period.day.day}: {len(cases)} open, {len(overdue)} overdue, "
               f"{len(coming)} due this week")
    sections = [
        (f"Overdue ({len(overdue)})", [_due_line(item, zone, now) for item in overdue]),
        (f"Due this week ({len(coming)})", [_due_line(item, zone, now) for item in coming]),
        (f"Your open cases ({len(cases)})", [_case_line(case, now, zone) for case in cases]),
    ]
    return subject, "\n\n".join(title + "\n" + ("\n".join(lines) or "  (none)") for title, lines in sections)


def _due_line(item: Due, zone: ZoneInfo, now: datetime) -> str:
    day = item.at.astimezone(zone).date()
    late = f" ({_days(now.astimezone(zone).date() - day)} ago)" if item.at < now else ""
    return f"  {item.case.ref}  {_spoken(day)}{late}  {item.what}  ({item.case.constituent})"


def _case_line(case: OpenCase, now: datetime, zone: ZoneInfo) -> str:
    age = _days(now.astimezone(zone).date() - case.opened_at.astimezone(zone).date())
    return f"  {case.ref}  {case.constituent}  {case.agency or 'no agency'}  {case.status}  {age} old"


def _days(span: timedelta) -> str:
    return "1 day" if span.days == 1 else f"{span.days} days"


def _spoken(day: date) -> str:
    return f"{day:%a %b} {day.day}"


def _open_cases(connection: Connection, config: Config, assignee: str) -> list[OpenCase]:
    rows = connection.execute(
        select(Case.id, Case.ref, Case.status, Case.agency, Case.opened_at, Party.name, Party.email, Party.phone)
        .outerjoin(Party, Party.id == Case.constituent_id)
        .where(Case.assignee == assignee, Case.status != "closed").order_by(Case.opened_at, Case.id)).all()
    return [OpenCase(row.id, row.ref, row.name or row.email or row.phone or "(unknown)",
                     config.agency_name(row.agency), row.status, row.opened_at) for row in rows]


def _due(connection: Connection, cases: list[OpenCase], week_end: datetime) -> list[Due]:
    """The pending reminders `hub cases --overdue` counts on these cases, due before `week_end`, soonest first."""
    by_id = {case.id: case for case in cases}
    rows = connection.execute(
        select(Reminder.case_id, Reminder.kind, Reminder.due_at, Reminder.note)
        .where(Reminder.case_id.in_(by_id), Reminder.state == "pending", Reminder.kind.in_(OVERDUE_KINDS),
               Reminder.due_at < week_end).order_by(Reminder.due_at, Reminder.id)).all()
    return [Due(by_id[row.case_id], _what(row.kind, row.note, by_id[row.case_id]), row.due_at) for row in rows]


def _what(kind: str, note: str, case: OpenCase) -> str:
    what = WHAT_IS_DUE[kind].format(agency=case.agency or "the agency")
    return f"{what}: {note[:80]}" if kind == CASEWORKER_FOLLOWUP and note else what
