"""The one place the hub asks what time it is; tests hand in a clock they control.

Times are timezone-aware UTC everywhere inside the hub; they are converted to the office's zone
only for display and for calendar rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that stands still until told to move; for `run --at` and for tests."""

    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self.at = as_utc(self.at)

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at = self.at + delta


def local_moment(day: date, at: time, timezone: str) -> datetime:
    """`at` o'clock on `day` in the zone `timezone` (an office's, a constituent's), in UTC."""
    return datetime.combine(day, at, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def as_utc(moment: datetime) -> datetime:
    """A naive time is taken to be UTC (databases hand them back naive); an aware one is converted."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def spoken_duration(length: timedelta) -> str:
    """A length of time as a log line says it: "45 s", "62 min", "3 h 5 min"."""
    seconds = max(int(length.total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
