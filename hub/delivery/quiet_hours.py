"""Quiet hours: no scheduled text reaches a constituent at night, in their own time zone."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.core.clock import local_moment


def quiet_until(now: datetime, zone: str, start: time, end: time) -> datetime | None:
    """When the quiet hours `start`–`end` (local to `zone`, possibly across midnight) end, if `now`
    falls inside them; None when a text may go now. Equal start and end mean no quiet hours."""
    local = now.astimezone(ZoneInfo(zone))
    moment = local.time().replace(tzinfo=None)
    if start == end:
        return None
    quiet = (moment >= start or moment < end) if start > end else (start <= moment < end)
    if not quiet:
        return None
    day = local.date() if moment < end else local.date() + timedelta(days=1)
    return local_moment(day, end, zone)
