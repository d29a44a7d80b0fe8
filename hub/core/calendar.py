"""Calendar arithmetic for response standards: calendar days, or business days without US federal holidays."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=8)
def _federal_holidays(year: int) -> holidays.HolidayBase:
    return holidays.US(years=year)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _federal_holidays(day.year)


def add_days(start: date, days: int, business: bool) -> date:
    """`days` after `start`: calendar days, or business days (weekends and US federal holidays skipped)."""
    if not business:
        return start + timedelta(days=days)
    day = start
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_business_day(day):
            counted += 1
    return day
