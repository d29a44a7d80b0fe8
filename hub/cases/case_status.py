"""Where a case stands, as the constituent may be told it: its current step and the next date, from the
case's own letters, reminders and due dates.

Only what the constituent already knows or may know: the case reference, the agency's name, the days the
agency usually takes, and dates. Never the case's subject, the agency's control number, notes, or what
anybody wrote. The letter `case-status` words each step (hub.intake.status_answer queues it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from hub.cases import due_dates
from hub.core.config import Config
from hub.core.models import Case, Message, Outbox, Release, Reminder
from hub.letters.context import spoken_day

# The steps, in the order they are looked for.
ASKED_AGENCY = "asked-agency"        # the inquiry went and the agency has not answered yet
AGENCY_ANSWERED = "agency-answered"  # the agency answered the inquiry; the caseworker takes it on
WAITING_RELEASE = "waiting-release"  # the privacy release the office sent is not back signed yet
WAITING_ON_YOU = "waiting-on-you"    # the office waits for the constituent's answer
REVIEWING = "reviewing"              # a caseworker is looking into it; nothing has gone to an agency yet
STEPS = (ASKED_AGENCY, AGENCY_ANSWERED, WAITING_RELEASE, WAITING_ON_YOU, REVIEWING)

_CASES = select(Case.id, Case.ref, Case.status, Case.agency, Case.opened_at).where(
    Case.ref.in_(bindparam("refs", expanding=True)))
_SENT = (select(func.min(Outbox.sent_at)).where(Outbox.case_id == bindparam("case_id"),
                                                Outbox.letter == bindparam("letter"), Outbox.state == "sent"))
_AGENCY_WROTE = (select(func.min(Message.received_at))
                 .where(Message.case_id == bindparam("case_id"), Message.direction == "in", Message.kind == "agency",
                        Message.received_at >= bindparam("since")))
_RELEASE = select(Release.id).where(Release.case_id == bindparam("case_id")).limit(1)
_DUE = (select(func.min(Reminder.due_at))
        .where(Reminder.case_id == bindparam("case_id"), Reminder.state == "pending",
               Reminder.kind == bindparam("kind")))


def case_steps(connection: Connection, config: Config, refs: tuple[str, ...], language: str,
               now: datetime) -> list[dict[str, Any]]:
    """One item per case, in the order of `refs`, for the letter's `status` list: `ref`, `step` (one of STEPS),
    `agency` (its name, "" for none), `since` (the day of the step), `days` and `business_days` (how long the
    agency usually takes to answer), `write_by` (the day the office writes to the constituent next, "" when
    nothing is set). Dates are spoken in `language`."""
    rows = {row.ref: row for row in connection.execute(_CASES, {"refs": list(refs)})}
    return [_step(connection, config, rows[ref], language, now) for ref in refs if ref in rows]


def _step(connection: Connection, config: Config, case: Any, language: str, now: datetime) -> dict[str, Any]:
    agency = config.agency(case.agency)
    rule = due_dates.standard(agency, config)
    values = {"case_id": case.id}

    def day(moment: datetime | None) -> str:
        return spoken_day(due_dates.local_day(moment, config), language) if moment else ""

    checkin = connection.execute(_DUE, {**values, "kind": due_dates.CHECKIN}).scalar()
    asked = connection.execute(_SENT, {**values, "letter": "agency-inquiry"}).scalar()
    answered = connection.execute(_AGENCY_WROTE, {**values, "since": asked}).scalar() if asked else None
    release_asked = connection.execute(_SENT, {**values, "letter": "privacy-release-request"}).scalar()
    if asked and answered:
        step, since = AGENCY_ANSWERED, answered
    elif asked:
        step, since = ASKED_AGENCY, asked
        # Without a check-in set, the next news is the agency's answer, or the follow-up when it is late.
        checkin = checkin or connection.execute(_DUE, {**values, "kind": due_dates.AGENCY_FOLLOWUP}).scalar()
    elif release_asked and connection.execute(_RELEASE, values).first() is None:
        step, since = WAITING_RELEASE, release_asked
    elif case.status == "pending-constituent":
        step, since = WAITING_ON_YOU, case.opened_at
    else:
        step, since = REVIEWING, case.opened_at
    return {"ref": case.ref, "step": step, "agency": agency.name if agency else "", "since": day(since),
            "days": rule.response_days, "business_days": rule.business_days,
            "write_by": day(checkin) if checkin and checkin > now else ""}
