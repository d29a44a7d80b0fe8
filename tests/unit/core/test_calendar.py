"""The business-day calendar: weekends and US federal holidays skipped."""

from __future__ import annotations

from datetime import date

from hub.core import calendar


def test_business_days_skip_weekends_and_federal_holidays() -> None:
    # Friday 2026-07-03 is Independence Day observed: the next business day after Thursday the 2nd is the 6th.
    assert calendar.add_days(date(2026, 7, 2), 1, business=True) == date(2026, 7, 6)
    assert calendar.add_days(date(2026, 7, 2), 1, business=False) == date(2026, 7, 3)
    assert not calendar.is_business_day(date(2026, 12, 25))
