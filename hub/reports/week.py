"""An ISO week counted in the office's time zone: its label, its bounds in UTC, and the weeks around it.

A week runs from Monday 00:00 to the next Monday 00:00 on the office's clock, so a case opened late on
Sunday evening in New York belongs to that week even though it is already Monday in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.core.clock import local_moment
from hub.core.errors import UserError

_LABEL = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


@dataclass(frozen=True)
class Week:
    year: int    # the ISO year, which differs from the calendar year around New Year
    number: int
    timezone: str

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def start(self) -> datetime:
        """Monday 00:00 office time, in UTC."""
        return _local_midnight(self.monday, self.timezone)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 office time, in UTC (exclusive)."""
        return _local_midnight(self.monday + timedelta(days=7), self.timezone)

    def previous(self) -> Week:
        return week_containing(self.start - timedelta(days=3), self.timezone)

    def same_week_last_year(self) -> Week:
        """The same ISO week a year earlier; week 53 becomes 52 when last year had no week 53."""
        year = self.year - 1
        number = min(self.number, date(year, 12, 28).isocalendar().week)  # 28 December is always in the last week
        return Week(year, number, self.timezone)

    def dates(self) -> str:
        """`November 16–22, 2026`, `November 30 – December 6, 2026`, `December 28, 2026 – January 3, 2027`."""
        first, last = self.monday, self.sunday
        if first.year != last.year:
            return f"{first:%B} {first.day}, {first.year} – {last:%B} {last.day}, {last.year}"
        if first.month != last.month:
            return f"{first:%B} {first.day} – {last:%B} {last.day}, {last.year}"
        return f"{first:%B} {first.day}–{last.day}, {last.year}"


def week_containing(moment: datetime, timezone: str) -> Week:
    year, number, _ = moment.astimezone(ZoneInfo(timezone)).isocalendar()
    return Week(year, number, timezone)


def parse_week(text: str, timezone: str) -> Week:
    """`2026-W47` (or `2026W47`, any case) -> that week; anything else is a UserError in one line."""
    match = _LABEL.match(text.strip())
    if not match:
        raise UserError(f"--week: expected an ISO week such as 2026-W47, got {text!r}")
    year, number = int(match[1]), int(match[2])
    if not 1 <= year <= 9998:  # the weeks of year 9999 run past the last date Python has
        raise UserError(f"--week: {year} is not a year the hub can count in, in {text!r}")
    last = date(year, 12, 28).isocalendar().week
    if not 1 <= number <= last:
        raise UserError(f"--week: {year} has ISO weeks W01 to W{last:02d}, not W{number:02d}")
    return Week(year, number, timezone)


def _local_midnight(day: date, timezone: str) -> datetime:
    return local_moment(day, time(0), timezone)
