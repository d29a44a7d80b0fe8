"""The weekly report's numbers for one week: a handful of aggregate queries, the same on SQLite and PostgreSQL.

"Pending at the end of the week" is counted as of that moment, not as of now: opened before the end and
not closed by then (a case reopened later counts as closed in the weeks it was closed; the database
keeps only its last closing). A case merged into another was a duplicate of it and counts nowhere, even in
the weeks before the merge. A reminder was overdue at the end of the week when it fell due before the
end and was still pending then (not yet done or cancelled). Assignees, agencies and labels are the
cases' current ones. Medians are taken in Python from the one column fetched for them.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, distinct, exists, func, select, true
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.util import AliasedClass
from sqlalchemy.sql.selectable import TableValuedAlias

from hub.cases.due_dates import OVERDUE_KINDS
from hub.core.config import Config
from hub.core.models import Case, Outbox, Reminder
from hub.reports.week import Week

TOP = 5
# (label, lowest age in days, highest age in days or None): whole days from opening to the end of the week.
AGE_BUCKETS = (("0-30", 0, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("91-180", 91, 180), ("over 180", 181, None))
NOT_AN_ISSUE_AREA = ("urgent",)
UNASSIGNED = "unassigned"


@dataclass(frozen=True)
class CaseCounts:
    opened: int
    closed: int
    pending: int  # at the end of the week


@dataclass(frozen=True)
class Ranked:
    """An agency or an issue area: cases pending at the end of the week, and cases opened during it."""

    name: str
    pending: int
    opened: int


@dataclass(frozen=True)
class Workload:
    name: str
    open_cases: int  # pending at the end of the week
    overdue_reminders: int


@dataclass(frozen=True)
class WeeklyFigures:
    week: Week
    last_year: Week
    counts: CaseCounts
    counts_last_year: CaseCounts
    median_age_days: float | None
    ages: tuple[tuple[str, int], ...]      # (bucket label, pending cases), in AGE_BUCKETS order
    first_responses: int                   # cases whose first response went out during the week
    median_response_hours: float | None
    pending_without_response: int
    agencies: tuple[Ranked, ...]
    issue_areas: tuple[Ranked, ...]
    workloads: tuple[Workload, ...]


def weekly_figures(session: Session, config: Config, week: Week) -> WeeklyFigures:
    last_year = week.same_week_last_year()
    response_hours = _response_hours(session, week)
    ages = [(week.end - opened).days for opened in session.scalars(select(Case.opened_at).where(_pending(week.end)))]
    return WeeklyFigures(
        week=week, last_year=last_year,
        counts=_counts(session, week), counts_last_year=_counts(session, last_year),
        median_age_days=_median(ages), ages=_buckets(ages),
        first_responses=len(response_hours), median_response_hours=_median(response_hours),
        pending_without_response=_pending_without_response(session, week),
        agencies=_agencies(session, config, week), issue_areas=_issue_areas(session, week),
        workloads=_workloads(session, config, week))


def _pending(end: datetime) -> ColumnElement[bool]:
    return _not_a_duplicate() & (Case.opened_at < end) & (Case.closed_at.is_(None) | (Case.closed_at >= end))


def _opened(week: Week) -> ColumnElement[bool]:
    return _not_a_duplicate() & (Case.opened_at >= week.start) & (Case.opened_at < week.end)


def _closed(week: Week) -> ColumnElement[bool]:
    return _not_a_duplicate() & (Case.closed_at >= week.start) & (Case.closed_at < week.end)


def _not_a_duplicate() -> ColumnElement[bool]:
    return Case.merged_into_id.is_(None)


def _count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


def _counts(session: Session, week: Week) -> CaseCounts:
    opened, closed, pending = session.execute(
        select(_count_where(_opened(week)), _count_where(_closed(week)), _count_where(_pending(week.end)))
        .where(Case.opened_at < week.end)).one()
    return CaseCounts(opened, closed, pending)


def _is_response(row: type[Outbox] | AliasedClass[Outbox], before: datetime) -> ColumnElement[bool]:
    """An outbox row that answered its case before `before`: sent, and chosen by a person (not the hub's own)."""
    return (row.state == "sent") & (row.actor != "hub") & (row.sent_at < before)


def _response_hours(session: Session, week: Week) -> list[float]:
    """Hours from opening to the first response, for the cases whose first response went out this week."""
    # The week's responses on cases not answered before it: no need to find every case's first response.
    earlier = aliased(Outbox)
    answered_before = exists().where(earlier.case_id == Outbox.case_id, _is_response(earlier, week.start))
    rows = session.execute(
        select(Case.opened_at, func.min(Outbox.sent_at)).join(Outbox, Outbox.case_id == Case.id)
        .where(_is_response(Outbox, week.end), Outbox.sent_at >= week.start, ~answered_before)
        .group_by(Case.id, Case.opened_at))
    return [(answered - opened) / timedelta(hours=1) for opened, answered in rows if answered is not None]


def _pending_without_response(session: Session, week: Week) -> int:
    answered = exists().where(Outbox.case_id == Case.id, _is_response(Outbox, week.end))
    return session.scalar(select(func.count()).select_from(Case).where(_pending(week.end), ~answered)) or 0


def _agencies(session: Session, config: Config, week: Week) -> tuple[Ranked, ...]:
    query = (select(Case.agency, *_pending_and_opened(week))
             .where(Case.agency.is_not(None), _pending(week.end) | _opened(week)).group_by(Case.agency))
    return _top((config.agency_name(key), pending, opened)
                for key, pending, opened in session.execute(query))


def _issue_areas(session: Session, week: Week) -> tuple[Ranked, ...]:
    label = _each_label(session)
    query = (select(label.c.value, *_pending_and_opened(week)).select_from(Case).join(label, true())
             .where(label.c.value.not_in(NOT_AN_ISSUE_AREA), _pending(week.end) | _opened(week))
             .group_by(label.c.value))
    return _top((str(name), pending, opened) for name, pending, opened in session.execute(query))


def _each_label(session: Session) -> TableValuedAlias:
    """One row per label of a case: the labels column is a JSON array, unnested the database's own way.

    Both databases let a function in FROM read the columns of the tables before it (no LATERAL needed)."""
    unnest = func.json_array_elements_text if session.get_bind().dialect.name == "postgresql" else func.json_each
    return unnest(Case.labels).table_valued("value")


def _pending_and_opened(week: Week) -> tuple[ColumnElement[int], ColumnElement[int]]:
    # distinct: a case labelled twice with the same word still counts once
    return (func.count(distinct(case((_pending(week.end), Case.id)))),
            func.count(distinct(case((_opened(week), Case.id)))))


def _top(rows: Iterable[tuple[str, int, int]]) -> tuple[Ranked, ...]:
    ranked = sorted((Ranked(name, pending, opened) for name, pending, opened in rows),
                    key=lambda row: (-row.pending, -row.opened, row.name))
    return tuple(ranked[:TOP])


def _workloads(session: Session, config: Config, week: Week) -> tuple[Workload, ...]:
    """Every caseworker on the staff list and every other assignee, busiest first; unassigned cases last."""
    open_cases = select(Case.assignee, func.count()).where(_pending(week.end)).group_by(Case.assignee)
    still_pending = (Reminder.state == "pending") | (Reminder.closed_at >= week.end)
    overdue_reminders = (
        select(Case.assignee, func.count(Reminder.id)).join(Reminder, Reminder.case_id == Case.id)
        .where(_pending(week.end), Reminder.kind.in_(OVERDUE_KINDS), Reminder.due_at < week.end,
               Reminder.created_at < week.end, still_pending)
        .group_by(Case.assignee))
    loads: dict[str | None, int] = {assignee: int(count) for assignee, count in session.execute(open_cases)}
    overdue: dict[str | None, int] = {assignee: int(count) for assignee, count in session.execute(overdue_reminders)}
    people = dict.fromkeys([*(person.email for person in config.staff), *sorted(a for a in {*loads, *overdue} if a)])
    named = [Workload(_staff_name(config, address), loads.get(address, 0), overdue.get(address, 0))
             for address in people]
    named.sort(key=lambda row: (-row.open_cases, -row.overdue_reminders, row.name))
    return (*named, Workload(UNASSIGNED, loads.get(None, 0), overdue.get(None, 0)))


def _staff_name(config: Config, address: str) -> str:
    person = config.staff_member(address)
    return person.name if person else address


def _median(values: list[int] | list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _buckets(ages: list[int]) -> tuple[tuple[str, int], ...]:
    return tuple((name, sum(1 for age in ages if low <= age and (high is None or age <= high)))
                 for name, low, high in AGE_BUCKETS)
