"""When reminders fall due: the office's calendar rules, pure (no database, no clock of their own).

Dated reminders fall due at the start of the office's business day, in the office's time zone.
Agencies' response standards are counted in calendar days or in business days (weekends and US
federal holidays skipped, hub.core.calendar); nudges are counted in business hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from hub.core.agency_directory import Agency
from hub.core.calendar import add_days, is_business_day
from hub.core.clock import as_utc, local_moment
from hub.core.config import Config

# The kinds of reminder rows, and what each one does when it falls due (hub.schedule.sweep).
AGENCY_FOLLOWUP = "agency-followup"  # the agency has not answered by its standard: follow up, or escalate
CHECKIN = "checkin"                  # nothing went to the constituent for checkin_days: check in
CASEWORKER_FOLLOWUP = "followup"     # a caseworker's #followup date: remind them
CLOSING = "case-closed"              # the case closed: the closing letter
SURVEY = "survey"                    # some days after closing: the satisfaction survey
NUDGE = "nudge"                      # an unassigned, or unanswered urgent, case: raise it
KINDS = (AGENCY_FOLLOWUP, CHECKIN, CASEWORKER_FOLLOWUP, CLOSING, SURVEY, NUDGE)
# A case is overdue while one of these is past its day and still pending (the weekly report counts them).
OVERDUE_KINDS = (AGENCY_FOLLOWUP, CASEWORKER_FOLLOWUP, CHECKIN)
SPREAD_MINUTES = 60  # dated letters go out over this much of the start of the office's day
# The days an agency without a directory entry is given (an inquiry sent to an address of its own).
UNKNOWN_AGENCY_DAYS = 30


@dataclass(frozen=True)
class Standard:
    """How one agency is chased: the office's defaults with the agency's own settings over them."""

    response_days: int   # to answer an inquiry
    interim_days: int    # after an answer, until the next follow-up
    followup_days: int   # between unanswered follow-ups
    followup_limit: int  # unanswered follow-ups before the supervisor is told
    business_days: bool
    name: str = "the agency"


def standard(agency: Agency | None, config: Config) -> Standard:
    office = config.schedule
    if agency is None:
        return Standard(UNKNOWN_AGENCY_DAYS, UNKNOWN_AGENCY_DAYS, office.followup_days, office.followup_limit, False)
    return Standard(agency.response_days, agency.interim, agency.followup_days or office.followup_days,
                    agency.followup_limit or office.followup_limit, agency.business_days, agency.name)


def local_day(moment: datetime, config: Config) -> date:
    return moment.astimezone(ZoneInfo(config.office.timezone)).date()


def workday_start(day: date, config: Config) -> datetime:
    """The start of the office's business hours on `day`, in UTC."""
    return local_moment(day, config.schedule.workday_start, config.office.timezone)


def days_after(moment: datetime, days: int, business: bool, config: Config) -> datetime:
    """The start of the office's day `days` calendar or business days after the office's date of `moment`.

    Counted in business days, the result is a business day by construction."""
    return _days_after(local_day(moment, config), days, business, config.office.timezone,
                       config.schedule.workday_start)


@lru_cache(maxsize=4096)  # a sweep asks the same few questions for thousands of reminders
def _days_after(day: date, days: int, business: bool, timezone: str, start: time) -> datetime:
    return local_moment(add_days(day, days, business), start, timezone)


def next_business_start(moment: datetime, config: Config) -> datetime:
    """`moment` when it falls within business hours; else the start of the next business day."""
    zone = ZoneInfo(config.office.timezone)
    local = moment.astimezone(zone)
    hours = config.schedule
    if is_business_day(local.date()) and hours.workday_start <= local.time() < hours.workday_end:
        return as_utc(moment)
    day = local.date()
    if not is_business_day(day) or local.time() >= hours.workday_end:
        day = add_days(day, 1, business=True)
    return workday_start(day, config)


def add_business_hours(moment: datetime, hours: float, config: Config) -> datetime:
    """`hours` of the office's business hours after `moment` (time outside them does not count)."""
    zone = ZoneInfo(config.office.timezone)
    left = timedelta(hours=hours)
    current = next_business_start(moment, config).astimezone(zone)
    while True:
        closing = datetime.combine(current.date(), config.schedule.workday_end, zone)
        if current + left <= closing:
            return as_utc(current + left)
        left -= closing - current
        current = workday_start(add_days(current.date(), 1, business=True), config).astimezone(zone)


def spread(due: datetime, case_id: int) -> datetime:
    """The letters the hub sends by itself go out over the first hour of the office's day, case by case,
    not all at its first minute: each minute's sweep stays short, and the office's mail relay, which
    often limits messages a minute, gets them at an even pace. A case's letters keep its own minute."""
    return due + timedelta(minutes=case_id % SPREAD_MINUTES)


def inquiry_answer_due(sent: datetime, rule: Standard, config: Config, case_id: int) -> datetime:
    """When the first follow-up falls due: the agency's response standard after the inquiry went."""
    return spread(days_after(sent, rule.response_days, rule.business_days, config), case_id)


def next_followup_due(sent: datetime, rule: Standard, config: Config, case_id: int) -> datetime:
    """After an unanswered follow-up went: counted from when it actually went, so a hub that was down
    sends one follow-up when it comes back, not one for every period it missed."""
    return spread(days_after(sent, rule.followup_days, rule.business_days, config), case_id)


def interim_due(answered: datetime, rule: Standard, config: Config, case_id: int) -> datetime:
    """After the agency answered: the next follow-up at the agency's interim cadence."""
    return spread(days_after(answered, rule.interim_days, rule.business_days, config), case_id)


def checkin_due(last_to_constituent: datetime, config: Config, case_id: int) -> datetime:
    return spread(days_after(last_to_constituent, config.schedule.checkin_days, False, config), case_id)


def survey_due(closed: datetime, config: Config, case_id: int) -> datetime:
    return spread(days_after(closed, config.schedule.survey_days, False, config), case_id)


def nudge_due(opened: datetime, config: Config) -> datetime:
    return add_business_hours(opened, config.schedule.nudge_hours, config)


def caseworker_followup_due(day: date, config: Config) -> datetime:
    return workday_start(day, config)
