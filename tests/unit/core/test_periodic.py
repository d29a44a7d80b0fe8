"""When a job that runs once a period is due: on its weekdays, from its time, on the office's clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from hub.core.app import Hub
from hub.core.periodic import Period, claim, due_today

NEW_YORK = "America/New_York"
EIGHT = time(8, 0)


@pytest.mark.parametrize(("now", "due"), [
    (datetime(2026, 11, 23, 12, 59, tzinfo=UTC), None),  # Monday 07:59 in New York
    (datetime(2026, 11, 23, 13, 0, tzinfo=UTC),          # Monday 08:00
     Period("2026-11-23", date(2026, 11, 23), datetime(2026, 11, 23, 13, 0, tzinfo=UTC))),
    (datetime(2026, 11, 24, 4, 59, tzinfo=UTC),          # Monday 23:59: still Monday's
     Period("2026-11-23", date(2026, 11, 23), datetime(2026, 11, 23, 13, 0, tzinfo=UTC))),
    (datetime(2026, 11, 24, 5, 0, tzinfo=UTC), None),    # Tuesday 00:00 in New York, Tuesday in UTC
    (datetime(2026, 11, 23, 2, 0, tzinfo=UTC), None),    # Monday in UTC, Sunday evening in New York
    (datetime(2026, 7, 6, 12, 0, tzinfo=UTC),            # summer time: 08:00 is 12:00 UTC
     Period("2026-07-06", date(2026, 7, 6), datetime(2026, 7, 6, 12, 0, tzinfo=UTC))),
])
def test_a_monday_job_is_due_from_its_time_until_the_end_of_the_office_day(now: datetime, due: Period | None) -> None:
    assert due_today(now, NEW_YORK, ("monday",), EIGHT) == due


def test_a_daily_job_gets_a_period_a_day() -> None:
    weekdays = ("monday", "tuesday", "wednesday", "thursday", "friday")
    labels = [due_today(datetime(2026, 11, day, 15, tzinfo=UTC), NEW_YORK, weekdays, EIGHT) for day in range(23, 30)]
    assert [period.label if period else None for period in labels] == [
        "2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27", None, None]


def test_a_period_is_claimed_once_per_recipient_on_either_database(hub: Hub) -> None:
    """The claim is what keeps two daemons (or a crash and its rerun) from queueing the same mail twice."""
    now = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    with hub.engine.begin() as connection:
        first = claim(connection, "caseworker-digest", "2026-11-23", "maria@doe.example.gov", now)
        again = claim(connection, "caseworker-digest", "2026-11-23", "maria@doe.example.gov", now)
        other = claim(connection, "caseworker-digest", "2026-11-23", "sam@doe.example.gov", now)
        next_week = claim(connection, "caseworker-digest", "2026-11-30", "maria@doe.example.gov", now)
    assert (first, again, other, next_week) == (True, False, True, True)
