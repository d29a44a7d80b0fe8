"""The weekly report's year: cases opened and closed in each of the 52 weeks up to the report's week, and in
the same weeks a year before.

Counted like the week's own numbers (hub.reports.figures): weeks run Monday to Sunday office time, a merged
duplicate counts nowhere, and a case closed, reopened and closed again counts in the week of its last closing.
One column is fetched per count over the two years and bucketed here on the weeks' own bounds, which follow
the office's changes of clock; the databases' date functions differ and neither knows the office's time zone.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from hub.core.models import Case
from hub.reports.week import Week

WEEKS = 52


@dataclass(frozen=True)
class WeekCount:
    week: Week
    opened: int
    closed: int


@dataclass(frozen=True)
class YearSeries:
    weeks: tuple[WeekCount, ...]      # oldest first, ending with the report's week
    last_year: tuple[WeekCount, ...]  # the same ISO weeks a year before, in the same order


def year_series(session: Session, week: Week) -> YearSeries:
    weeks = [week]
    while len(weeks) < WEEKS:
        weeks.append(weeks[-1].previous())
    weeks.reverse()
    before = [each.same_week_last_year() for each in weeks]
    start, end = before[0].start, weeks[-1].end
    opened = _moments(session, Case.opened_at, start, end)
    closed = _moments(session, Case.closed_at, start, end)

    def counts(period: list[Week]) -> tuple[WeekCount, ...]:
        return tuple(WeekCount(each, _within(opened, each), _within(closed, each)) for each in period)

    return YearSeries(counts(weeks), counts(before))


def _moments(session: Session, column: InstrumentedAttribute[datetime] | InstrumentedAttribute[datetime | None],
             start: datetime, end: datetime) -> list[datetime]:
    query = select(column).where(Case.merged_into_id.is_(None), column >= start, column < end).order_by(column)
    return [moment for moment in session.scalars(query) if moment is not None]


def _within(moments: list[datetime], week: Week) -> int:
    return bisect_left(moments, week.end) - bisect_left(moments, week.start)
