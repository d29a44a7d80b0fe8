"""Calendar arithmetic for response standards: calendar days, or business days without US federal holidays."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=8)
def _federal_holidays(year: int) -> holidays.HolidayBase:
    return holidays.US(years=year)


def load_ahead(year: int) -> threading.Thread:
    """Load `year`'s holidays and the next year's in a thread of their own, while the caller waits for something
    else: the first business-day sum otherwise loads the country's calendars (a tenth of a second or more) in the
    middle of filing mail."""
    loading = threading.Thread(target=lambda: [_federal_holidays(y) for y in (year, year + 1)],
                               name="holidays", daemon=True)
    loading.start()
    return loading


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
