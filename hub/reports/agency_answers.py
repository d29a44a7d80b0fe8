"""How the agencies answer: days from the inquiry to the first answer, against each agency's standard, and the
answers overdue at the end of the report's week.

An answer is what the sweep counts as one (hub.schedule.sweep): mail on the case that intake filed as the
agency's (`kind = agency`), at the time the hub received it. Days are counted the way the agency's standard
is (hub.core.agency_directory: `response_days`, in calendar or business days), between office dates.

- Days to answer: per agency, the median over the cases whose first answer came in the 52 weeks up to the end
  of the week, from the first agency-inquiry sent on the case.
- Overdue: a case pending at the end of the week that was waiting for the agency then (an inquiry or
  follow-up sent and no answer since), the earliest of those letters older than the standard: `response_days`
  before any answer, the agency's interim days after one (hub.cases.due_dates.standard).
The agency is the case's current one; merged duplicates count nowhere.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from hub.cases import due_dates
from hub.core.calendar import is_business_day
from hub.core.config import Config
from hub.core.models import Case, Message, Outbox
from hub.letters.templates import AGENCY_LETTERS
from hub.reports.week import Week
from hub.reports.year import WEEKS

INQUIRY = "agency-inquiry"
SHOWN = 8  # agencies in the days-to-answer chart: the slowest against their standard


@dataclass(frozen=True)
class AnswerTime:
    agency: str
    answers: int            # first answers received in the year
    median_days: float
    standard_days: int
    business_days: bool


@dataclass(frozen=True)
class OverdueAnswer:
    ref: str
    agency: str
    assignee: str
    waiting_since: date     # office date of the unanswered letter
    due: date               # office date the standard ran out
    days_overdue: int       # calendar days from `due` to the end of the week


@dataclass(frozen=True)
class AgencyAnswers:
    times: tuple[AnswerTime, ...]     # slowest against the standard first
    overdue: tuple[OverdueAnswer, ...]  # most overdue first


def agency_answers(session: Session, config: Config, week: Week) -> AgencyAnswers:
    return AgencyAnswers(_answer_times(session, config, week), _overdue(session, config, week))


def _answer_times(session: Session, config: Config, week: Week) -> tuple[AnswerTime, ...]:
    year_start = week.start - timedelta(weeks=WEEKS - 1)
    inquiry = (select(Outbox.case_id, func.min(Outbox.sent_at).label("sent"))
               .where(Outbox.letter == INQUIRY, Outbox.state == "sent", Outbox.sent_at < week.end)
               .group_by(Outbox.case_id).subquery())
    answered = func.min(Message.received_at)
    rows = session.execute(
        select(Case.agency, inquiry.c.sent, answered)
        .join(inquiry, inquiry.c.case_id == Case.id).join(Message, Message.case_id == Case.id)
        .where(_agency_case(), _agency_answer(), Message.received_at > inquiry.c.sent,
               Message.received_at < week.end)
        .group_by(Case.id, Case.agency, inquiry.c.sent).having(answered >= year_start))
    days: dict[str, list[int]] = {}
    for key, sent, answer in rows:
        rule = due_dates.standard(config.agency(key), config)
        days.setdefault(key, []).append(_days(_local(sent, config), _local(answer, config), rule.business_days))
    times = []
    for key, values in days.items():
        rule = due_dates.standard(config.agency(key), config)
        times.append(AnswerTime(config.agency_name(key), len(values), float(statistics.median(values)),
                                rule.response_days, rule.business_days))
    times.sort(key=lambda row: (-row.median_days / row.standard_days, -row.answers, row.agency))
    return tuple(times)


def _overdue(session: Session, config: Config, week: Week) -> tuple[OverdueAnswer, ...]:
    pending = _agency_case() & (Case.opened_at < week.end) & (Case.closed_at.is_(None) | (Case.closed_at >= week.end))
    letters = session.execute(
        select(Case.id, Case.ref, Case.agency, Case.assignee, Outbox.sent_at)
        .join(Outbox, Outbox.case_id == Case.id)
        .where(pending, Outbox.letter.in_(AGENCY_LETTERS), Outbox.state == "sent", Outbox.sent_at < week.end)
        .order_by(Case.id, Outbox.sent_at))
    last_answers: dict[int, datetime] = dict(session.execute(  # type: ignore[arg-type]
        select(Message.case_id, func.max(Message.received_at)).join(Case, Case.id == Message.case_id)
        .where(pending, _agency_answer(), Message.received_at < week.end).group_by(Message.case_id)).all())
    waiting: dict[int, tuple[str, str, str | None, datetime]] = {}
    for case_id, ref, key, assignee, sent in letters:
        answer = last_answers.get(case_id)
        if sent is not None and key is not None and (answer is None or sent > answer) and case_id not in waiting:
            waiting[case_id] = (ref, key, assignee, sent)  # the earliest letter not answered
    end_day = _local(week.end - timedelta(microseconds=1), config)
    overdue = []
    for case_id, (ref, key, assignee, sent) in waiting.items():
        rule = due_dates.standard(config.agency(key), config)
        days = rule.response_days if case_id not in last_answers else rule.interim_days
        due = _local(due_dates.days_after(sent, days, rule.business_days, config), config)
        if due <= end_day:
            person = config.staff_member(assignee) if assignee else None
            overdue.append(OverdueAnswer(ref, config.agency_name(key), person.name if person else assignee or "",
                                         _local(sent, config), due, (end_day - due).days + 1))
    overdue.sort(key=lambda row: (-row.days_overdue, row.ref))
    return tuple(overdue)


def _agency_case() -> ColumnElement[bool]:
    return Case.merged_into_id.is_(None) & Case.agency.is_not(None)


def _agency_answer() -> ColumnElement[bool]:
    return (Message.direction == "in") & (Message.kind == "agency")


def _local(moment: datetime, config: Config) -> date:
    return due_dates.local_day(moment, config)


def _days(start: date, end: date, business: bool) -> int:
    """Days after `start` up to and including `end`: every day, or only business days."""
    if not business:
        return (end - start).days
    return sum(1 for offset in range(1, (end - start).days + 1) if is_business_day(start + timedelta(days=offset)))
