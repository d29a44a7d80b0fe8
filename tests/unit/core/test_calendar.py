"""The business-day calendar: holidays skipped, and a year's holidays loadable ahead of the first sum."""

from __future__ import annotations

from datetime import date

from hub.core import calendar


def test_business_days_skip_weekends_and_federal_holidays() -> None:
    # Friday 2026-07-03 is Independence Day observed: the next business day after Thursday the 2nd is the 6th.
    assert calendar.add_days(date(2026, 7, 2), 1, business=True) == date(2026, 7, 6)
    assert calendar.add_days(date(2026, 7, 2), 1, business=False) == date(2026, 7, 3)
    assert not calendar.is_business_day(date(2026, 12, 25))


def test_a_year_loaded_ahead_is_ready_for_the_first_sum() -> None:
    calendar._federal_holidays.cache_clear()
    calendar.load_ahead(2031).join(timeout=30)
    cached = calendar._federal_holidays.cache_info()
    assert cached.currsize == 2  # 2031 and 2032
    assert not calendar.is_business_day(date(2032, 1, 1))
    assert calendar._federal_holidays.cache_info().misses == cached.misses  # no load in the sum itself
