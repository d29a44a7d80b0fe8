"""A caseworker's follow-up date as an iCalendar event (RFC 5545), to ride on the mail that confirms it.

METHOD:PUBLISH, not REQUEST: a request asks the caseworker's calendar to answer the organizer, and the
organizer would be the office address the hub reads, so every "Accepted:" would come back as staff mail.
A published event is simply added to the calendar. Its UID is fixed per reminder, so sending it again
updates the same event instead of adding a second one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import Alarm, Calendar, Event

from hub.letters.compose import Attachment

EVENT_LENGTH = timedelta(minutes=15)


def followup_event(uid: str, start: datetime, summary: str, description: str, now: datetime) -> Attachment:
    """The event at `start` (aware), with an alarm when it begins, as a text/calendar attachment."""
    calendar = Calendar()
    calendar.add("prodid", "-//casework-hub//follow-up//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", now)
    event.add("dtstart", start)
    event.add("dtend", start + EVENT_LENGTH)
    event.add("summary", summary)
    event.add("description", description)
    event.add("transp", "TRANSPARENT")  # a reminder, not a meeting: it does not block the caseworker's time
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", summary)
    alarm.add("trigger", timedelta(0))
    event.add_component(alarm)
    calendar.add_component(event)
    return Attachment("followup.ics", "text/calendar; method=PUBLISH; charset=utf-8", calendar.to_ical())
