"""The reminder sweep: due reminder rows become letters and notices in the outbox.

Due rows are read in due order (ix_reminders_due) in batches; each batch is one transaction in which
its reminders are closed or moved and their letters queued, so a crash anywhere replays a batch at
most and sends nothing twice (the outbox sends each row once). What the sweep does is decided per row
by hub.schedule.sweep_rules from facts read for the whole batch in a few queries, so a morning with thousands
of check-ins due costs a handful of statements per batch, not several per case.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update

from hub.cases.letter_send import letters_of
from hub.cases.reminders import schedule_missing
from hub.core.app import Hub
from hub.core.models import Case, Event, Message, Outbox, Party, Reminder
from hub.letters.notice_thread import thread
from hub.letters.templates import AGENCY_LETTERS
from hub.schedule.sweep_rules import AgencyHistory, BatchFacts, Due, Plan, plan_reminder

BATCH = 2000
# A row that went or will go: not failed, suppressed or cancelled. Said as NOT IN so that SQLite looks the
# batch's cases up by case_id instead of walking every sent row by state (it has no statistics to tell).
_WENT_OR_GOING = Outbox.state.not_in(("failed", "suppressed", "cancelled"))
_DUE = (select(Reminder.id, Reminder.kind, Reminder.case_id, Reminder.due_at, Reminder.note, Reminder.owner,
               Case.ref, Case.status, Case.assignee, Case.agency, Case.labels, Case.subject, Case.closed_at,
               Case.contact_channel, Party.email, Party.phone)
        .join(Case, Case.id == Reminder.case_id).outerjoin(Party, Party.id == Case.constituent_id)
        .where(Reminder.state == "pending", Reminder.due_at <= bindparam("now"))
        .order_by(Reminder.due_at, Reminder.id).limit(BATCH)
        .with_for_update(of=Reminder, skip_locked=True))  # PostgreSQL: two hubs never take the same rows
_CLOSE = (update(Reminder).where(Reminder.id == bindparam("reminder_id"), Reminder.state == "pending")
          .values(state=bindparam("new_state"), due_at=bindparam("new_due"), closed_at=bindparam("closed"),
                  closed_by=bindparam("why"), outbox_id=bindparam("letter_id")))


@dataclass
class SweepReport:
    counts: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        parts = [f"{n} {what}" for what, n in sorted(self.counts.items())]
        return "reminders: " + (", ".join(parts) if parts else "nothing due")


def sweep_due(hub: Hub, should_stop: Callable[[], bool] = lambda: False, catch_up: bool = False) -> SweepReport:
    """Turn every reminder due now into its letters and notices, in the outbox; one commit per batch.

    `catch_up` (once per process: `run --once`, the daemon's start) first sets the reminders of open
    cases that never had them, such as cases from before the schedule existed."""
    report = SweepReport()
    now = hub.clock.now()
    if catch_up:
        with hub.sessions.begin() as session:
            missing = schedule_missing(session.connection(), hub.config, now)
        if missing:
            report.counts["set for older cases"] = missing
    sms_letters = frozenset(letters_of(hub).names("sms"))
    while not should_stop():
        with hub.sessions.begin() as session:
            connection = session.connection()
            due = [Due(*tuple(row)) for row in connection.execute(_DUE, {"now": now})]  # columns in Due's order
            if not due:
                break
            facts = _facts(connection, due)
            plans = [plan_reminder(reminder, facts, hub.config, sms_letters, now) for reminder in due]
            _write(connection, hub, due, plans, now)
        report.counts.update(plan.outcome for plan in plans)
        if len(due) < BATCH:
            break
    return report


def _facts(connection: Connection, due: list[Due]) -> BatchFacts:
    """What the rules need to know about the batch's cases, a few queries for all of them."""
    def cases(*kinds: str) -> list[int]:
        return sorted({reminder.case_id for reminder in due if reminder.kind in kinds})

    checkin_cases, agency_cases = cases("checkin"), cases("agency-followup")
    last_to_constituent: dict[int, datetime] = dict(connection.execute(  # type: ignore[arg-type]
        select(Outbox.case_id, func.max(Outbox.created_at))
        .join(Case, Case.id == Outbox.case_id).join(Party, Party.id == Case.constituent_id)
        .where(Outbox.case_id.in_(checkin_cases), _WENT_OR_GOING,
               or_(Outbox.recipient == Party.email, Outbox.recipient == Party.phone))
        .group_by(Outbox.case_id)).all()) if checkin_cases else {}
    history: dict[int, AgencyHistory] = {case_id: AgencyHistory() for case_id in agency_cases}
    if agency_cases:
        for case_id, letter, recipient, state, at in connection.execute(
                select(Outbox.case_id, Outbox.letter, Outbox.recipient, Outbox.state,
                       func.coalesce(Outbox.sent_at, Outbox.created_at))
                .where(Outbox.case_id.in_(agency_cases), Outbox.letter.in_(AGENCY_LETTERS),
                       _WENT_OR_GOING)
                .order_by(Outbox.case_id, Outbox.id)):
            history[case_id or 0].letters.append((letter, recipient, state, at))
        for case_id, last_answer in connection.execute(
                select(Message.case_id, func.max(Message.received_at))  # not its Date: senders' clocks vary
                .where(Message.case_id.in_(agency_cases), Message.direction == "in", Message.kind == "agency")
                .group_by(Message.case_id)):
            history[case_id or 0].last_answer = last_answer
    answered_cases = cases("nudge")
    answered: set[int] = set(connection.execute(  # type: ignore[arg-type]
        select(Outbox.case_id).where(Outbox.case_id.in_(answered_cases), Outbox.automatic == "",
                                     Outbox.actor != "hub", _WENT_OR_GOING)
        .distinct()).scalars()
                   ) if answered_cases else set()
    closing_cases = cases("case-closed")
    closing_letters: dict[int, datetime] = dict(connection.execute(  # type: ignore[arg-type]
        select(Outbox.case_id, func.max(Outbox.created_at))
        .where(Outbox.case_id.in_(closing_cases), Outbox.letter == "case-closed",
               _WENT_OR_GOING).group_by(Outbox.case_id)).all()) if closing_cases else {}
    return BatchFacts(last_to_constituent, history, answered, closing_letters)


def _write(connection: Connection, hub: Hub, due: list[Due], plans: list[Plan], now: datetime) -> None:
    """Every plan's letters, reminder changes, new reminders and events, in the batch's transaction."""
    letters = [(index, letter) for index, plan in enumerate(plans) for letter in plan.letters]
    ids: list[int] = []
    if letters:
        domain, refs = hub.config.office.domain, hub.refs
        rows = [dict(case_id=due[index].case_id, channel=letter.channel, letter=letter.name,
                     recipient=letter.recipient, message_id=refs.message_id(domain, due[index].ref),
                     in_reply_to=None, references=None, context=letter.context, automatic=letter.automatic,
                     actor="hub", subject=None, body=None, state="pending", attempts=0, not_before=now,
                     created_at=now) for index, letter in letters]
        thread(connection, rows)
        # A plain executemany, then the ids by Message-ID (unique): many times faster than RETURNING row by row.
        connection.execute(insert(Outbox), rows)
        by_message_id = dict(connection.execute(select(Outbox.message_id, Outbox.id).where(
            Outbox.message_id.in_([row["message_id"] for row in rows]))).all())
        ids = [by_message_id[str(row["message_id"])] for row in rows]
    first_letter: dict[int, int] = {}
    for (index, _), row_id in zip(letters, ids, strict=True):
        first_letter.setdefault(index, row_id)
    connection.execute(_CLOSE, [dict(
        reminder_id=reminder.id, new_state=plan.state, new_due=plan.due_at or reminder.due_at,
        closed=None if plan.state == "pending" else now, why=plan.why[:2000], letter_id=first_letter.get(index))
        for index, (reminder, plan) in enumerate(zip(due, plans, strict=True))])
    follow_on = [dict(case_id=reminder.case_id, kind=kind, due_at=at, state="pending", note=note, owner="",
                      created_at=now)
                 for reminder, plan in zip(due, plans, strict=True) for kind, at, note in plan.next]
    if follow_on:
        connection.execute(insert(Reminder), follow_on)
    events = list(_events(due, plans, now))
    if events:
        connection.execute(insert(Event), events)


def _events(due: list[Due], plans: list[Plan], now: datetime) -> Iterable[dict[str, Any]]:
    for reminder, plan in zip(due, plans, strict=True):
        if plan.event:
            yield dict(case_id=reminder.case_id, message_id=None, kind=f"reminder-{plan.outcome.replace(' ', '-')}",
                       detail=plan.event[:4000], actor="hub", via="rule", at=now)
