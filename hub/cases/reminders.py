"""Reminder rows set and cancelled by what happens on a case, in the caller's transaction.

A case opens: a check-in and a nudge. An agency letter goes: the next agency follow-up, counted from
when it went. The agency answers: the pending follow-up is cancelled and the next one set at the
agency's interim cadence. A case closes: the closing letter (then the survey); it reopens: the
closing reminders go and a check-in comes back. The sweep (hub.schedule.sweep) turns due rows into letters.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Update, bindparam, func, insert, select, update

from hub.cases import due_dates
from hub.core.config import Config
from hub.core.db import one_of
from hub.core.db_pipeline import write_only
from hub.core.models import Case, Event, Outbox, Party, Reminder
from hub.letters.templates import AGENCY_LETTERS

# Nothing is read back from these writes: in a pipelined batch (hub.core.db_pipeline) they go without a wait.
_INSERT = write_only(insert(Reminder).inline())
_SENT_INQUIRY = select(Outbox.id).where(Outbox.case_id == bindparam("case_id"), Outbox.letter == "agency-inquiry",
                                        Outbox.state == "sent").limit(1)


def add(connection: Connection, case_id: int, kind: str, due_at: datetime, now: datetime, note: str = "",
        owner: str = "") -> None:
    connection.execute(_INSERT, dict(case_id=case_id, kind=kind, due_at=due_at, state="pending", note=note[:2000],
                                     owner=owner, created_at=now))


def cancel(connection: Connection, case_id: int, kinds: tuple[str, ...], reason: str, now: datetime) -> None:
    """Cancel the case's pending reminders of these kinds."""
    connection.execute(_cancel(kinds), {"of_case": case_id, "now": now, "reason": reason[:2000]})


@cache
def _cancel(kinds: tuple[str, ...]) -> Update:
    """`cancel`'s statement, built once for each set of kinds (the intake cancels on many messages)."""
    return write_only(update(Reminder)
                      .where(Reminder.case_id == bindparam("of_case"), Reminder.state == "pending",
                             one_of(Reminder.kind, kinds))
                      .values(state="cancelled", closed_at=bindparam("now"), closed_by=bindparam("reason")))


def case_opened(connection: Connection, config: Config, case_id: int, now: datetime) -> None:
    rows = opening_reminders(config, case_id, now)
    if rows:
        connection.execute(_INSERT, rows)


def opening_reminders(config: Config, case_id: int, now: datetime) -> list[dict[str, Any]]:
    """The rows `case_opened` writes (a check-in and a nudge, as the schedule has them), for a caller that sends
    them in a statement of its own."""
    rows = []
    if config.schedule.checkin_days:
        rows.append(dict(kind=due_dates.CHECKIN, due_at=due_dates.checkin_due(now, config, case_id)))
    if config.schedule.nudge_hours:
        rows.append(dict(kind=due_dates.NUDGE, due_at=due_dates.nudge_due(now, config)))
    return [dict(case_id=case_id, state="pending", note="", owner="", closed_by="", created_at=now, **row)
            for row in rows]


def agency_letter_sent(connection: Connection, config: Config, case_id: int, agency_key: str | None, letter: str,
                       sent_at: datetime) -> None:
    """An inquiry or follow-up went: the next follow-up replaces any pending one."""
    rule = due_dates.standard(config.agency(agency_key), config)
    cancel(connection, case_id, (due_dates.AGENCY_FOLLOWUP,), f"superseded: {letter} sent", sent_at)
    due = (due_dates.inquiry_answer_due(sent_at, rule, config, case_id) if letter == "agency-inquiry"
           else due_dates.next_followup_due(sent_at, rule, config, case_id))
    add(connection, case_id, due_dates.AGENCY_FOLLOWUP, due, sent_at, note=f"no answer to the {letter} yet")


def agency_answered(connection: Connection, config: Config, case_id: int, agency_key: str | None, message_row_id: int,
                    now: datetime) -> None:
    """The agency wrote: the pending follow-up is satisfied; while an inquiry is out, the next one is set."""
    cancel(connection, case_id, (due_dates.AGENCY_FOLLOWUP,), f"the agency answered (message {message_row_id})", now)
    inquiry = connection.execute(_SENT_INQUIRY, {"case_id": case_id}).first()
    if inquiry is not None:
        rule = due_dates.standard(config.agency(agency_key), config)
        add(connection, case_id, due_dates.AGENCY_FOLLOWUP, due_dates.interim_due(now, rule, config, case_id), now,
            note="the agency's next update")


def case_closed(connection: Connection, config: Config, case_id: int, now: datetime) -> None:
    """Every pending reminder is cancelled (the caller's close did that); the closing letter is due now,
    or, without one, the survey."""
    if config.schedule.closing_letter:
        add(connection, case_id, due_dates.CLOSING, now, now)
    elif config.schedule.survey_days:
        add(connection, case_id, due_dates.SURVEY, due_dates.survey_due(now, config, case_id), now)


def case_reopened(connection: Connection, config: Config, case_id: int, now: datetime) -> None:
    cancel(connection, case_id, (due_dates.CLOSING, due_dates.SURVEY), "the case was reopened", now)
    if config.schedule.checkin_days:
        add(connection, case_id, due_dates.CHECKIN, due_dates.checkin_due(now, config, case_id), now)


# The event of a case opened from an archive (`hub ingest --archive`): nothing is scheduled for it.
ARCHIVED = "archived"


def schedule_missing(connection: Connection, config: Config, now: datetime) -> int:
    """Reminders for open cases that never had them (cases from before the schedule existed): a check-in
    counted from the last letter to the constituent (or the opening), and an agency follow-up counted
    from the last inquiry or follow-up that went. Returns how many were set."""
    rows: list[dict[str, object]] = []
    archived = select(Event.id).where(Event.case_id == Case.id, Event.kind == ARCHIVED).exists()
    open_cases = select(Case.id).where(Case.status != "closed", ~archived)
    if config.schedule.checkin_days:
        never = open_cases.where(~select(Reminder.id).where(Reminder.case_id == Case.id,
                                                            Reminder.kind == due_dates.CHECKIN).exists())
        last = (select(func.max(Outbox.created_at)).join(Party, Party.id == Case.constituent_id)
                .where(Outbox.case_id == Case.id, Outbox.recipient.in_((Party.email, Party.phone)),
                       Outbox.state == "sent").scalar_subquery())
        for case_id, opened, last_sent in connection.execute(
                select(Case.id, Case.opened_at, last).where(Case.id.in_(never))):
            since = max(opened, last_sent) if last_sent else opened
            rows.append(dict(case_id=case_id, kind=due_dates.CHECKIN,
                             due_at=due_dates.checkin_due(since, config, case_id)))
    chased = (select(Outbox.case_id, Case.agency, func.max(Outbox.sent_at))
              .join(Case, Case.id == Outbox.case_id)
              .where(Outbox.letter.in_(AGENCY_LETTERS), Outbox.state == "sent",
                     Outbox.case_id.in_(open_cases),
                     ~select(Reminder.id).where(Reminder.case_id == Outbox.case_id,
                                                Reminder.kind == due_dates.AGENCY_FOLLOWUP).exists())
              .group_by(Outbox.case_id, Case.agency))
    for chased_case, agency_key, sent_at in connection.execute(chased):
        # The agency's response standard from its last letter: the closest to what it was promised.
        rule = due_dates.standard(config.agency(agency_key), config)
        rows.append(dict(case_id=chased_case, kind=due_dates.AGENCY_FOLLOWUP,
                         due_at=due_dates.inquiry_answer_due(sent_at or now, rule, config, chased_case or 0)))
    if rows:
        connection.execute(_INSERT, [dict(state="pending", note="set when the schedule began", owner="",
                                          created_at=now, **row) for row in rows])
    return len(rows)
