"""The calendar rules and what a due reminder does, without a database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hub.cases import due_dates
from hub.core import config as config_module
from hub.core.config import Config
from hub.core.errors import ConfigError
from hub.run.office import init_office
from hub.schedule.sweep_rules import AgencyHistory, BatchFacts, Due, plan_reminder

NEW_YORK = ZoneInfo("America/New_York")
SMS_LETTERS = frozenset({"acknowledgement", "constituent-checkin", "case-closed", "satisfaction-survey"})


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return config_module.load(init_office(tmp_path_factory.mktemp("rules") / "office"))


def local(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def test_business_days_skip_weekends_and_federal_holidays(config: Config) -> None:
    # Tuesday before Thanksgiving + 2 business days: Wednesday, then Friday (Thursday is Thanksgiving).
    assert due_dates.days_after(local(2026, 11, 24, 16), 2, True, config) == local(2026, 11, 27)
    # Calendar days land on a weekend if that is where they fall.
    assert due_dates.days_after(local(2026, 11, 24, 16), 4, False, config) == local(2026, 11, 28)
    # Christmas and New Year's Day 2027 (both Fridays) are skipped.
    assert due_dates.days_after(local(2026, 12, 23), 6, True, config) == local(2027, 1, 4)


def test_the_office_date_counts_not_the_utc_date(config: Config) -> None:
    # 9 p.m. on Monday in New York is already Tuesday in UTC; the office's Monday counts.
    evening = local(2026, 11, 23, 21).astimezone(UTC)
    assert due_dates.days_after(evening, 1, False, config) == local(2026, 11, 24)


def test_business_hours_stop_at_the_end_of_the_day_and_skip_holidays(config: Config) -> None:
    assert due_dates.add_business_hours(local(2026, 11, 23, 10), 4, config) == local(2026, 11, 23, 14)
    # Wednesday 3 p.m.: two hours that day, Thanksgiving off, two more on Friday.
    assert due_dates.add_business_hours(local(2026, 11, 25, 15), 4, config) == local(2026, 11, 27, 11)
    # Saturday night: the clock starts Monday morning.
    assert due_dates.add_business_hours(local(2026, 11, 28, 22), 4, config) == local(2026, 11, 30, 13)
    # Exactly at the close of business: the hours come from the next day.
    assert due_dates.add_business_hours(local(2026, 11, 23, 17), 1, config) == local(2026, 11, 24, 10)


def test_next_business_start(config: Config) -> None:
    assert due_dates.next_business_start(local(2026, 11, 24, 11), config) == local(2026, 11, 24, 11)
    assert due_dates.next_business_start(local(2026, 11, 24, 18), config) == local(2026, 11, 25)
    assert due_dates.next_business_start(local(2026, 11, 26, 10), config) == local(2026, 11, 27), "Thanksgiving"
    assert due_dates.next_business_start(local(2026, 11, 28, 8), config) == local(2026, 11, 30)


def test_letters_the_hub_sends_by_itself_are_spread_over_the_first_hour_by_case(config: Config) -> None:
    start = local(2026, 12, 1)
    assert [due_dates.spread(start, case) for case in (60, 7, 127)] == [local(2026, 12, 1), local(2026, 12, 1, 9, 7),
                                                                      local(2026, 12, 1, 9, 7)]
    assert due_dates.checkin_due(local(2026, 11, 1, 16), config, 61) == local(2026, 12, 1, 9, 1)


def test_an_agency_standard_falls_back_on_the_office_defaults(config: Config) -> None:
    irs = config.agency("irs")
    assert irs is not None
    rule = due_dates.standard(irs, config)
    assert (rule.response_days, rule.interim_days, rule.followup_days, rule.followup_limit, rule.business_days) == (
        20, 20, 10, 3, True)
    own = due_dates.standard(replace(irs, interim_days=30, followup_days=5, followup_limit=2), config)
    assert (own.interim_days, own.followup_days, own.followup_limit) == (30, 5, 2)
    unknown = due_dates.standard(None, config)
    assert (unknown.response_days, unknown.business_days) == (due_dates.UNKNOWN_AGENCY_DAYS, False)


def due(kind: str, **changes: object) -> Due:
    base = Due(id=1, kind=kind, case_id=7, due_at=local(2026, 12, 23), note="", owner="", ref="CW-26-00007-XX",
               status="open", assignee="maria.lopez@doe.example.gov", agency="irs", labels=[], subject="Refund",
               closed_at=None, contact_channel="email", email="pat@example.com", phone="+19195550142")
    return replace(base, **changes)  # type: ignore[arg-type]


NOTHING = BatchFacts({}, {}, set(), {})


def test_a_checkin_waits_when_a_letter_went_to_the_constituent_recently(config: Config) -> None:
    now = local(2026, 12, 23, 9, 5)
    facts = replace(NOTHING, last_to_constituent={7: local(2026, 12, 1, 15)})
    plan = plan_reminder(due("checkin"), facts, config, SMS_LETTERS, now)
    assert (plan.state, plan.due_at, plan.letters) == ("pending", local(2026, 12, 31, 9, 7), ()), "case 7: 09:07"
    sent = plan_reminder(due("checkin"), NOTHING, config, SMS_LETTERS, now)
    assert sent.state == "done" and [(q.name, q.recipient, q.channel) for q in sent.letters] == [
        ("constituent-checkin", "pat@example.com", "email")]
    assert sent.next == (("checkin", local(2027, 1, 22, 9, 7), ""),)


def test_a_checkin_goes_by_text_on_a_case_that_talks_by_text(config: Config) -> None:
    plan = plan_reminder(due("checkin", contact_channel="sms"), NOTHING, config, SMS_LETTERS, local(2026, 12, 23))
    assert [(q.recipient, q.channel) for q in plan.letters] == [("+19195550142", "sms")]
    no_text = plan_reminder(due("checkin", contact_channel="sms"), NOTHING, config, frozenset(), local(2026, 12, 23))
    assert [(q.recipient, q.channel) for q in no_text.letters] == [("pat@example.com", "email")]
    nobody = plan_reminder(due("checkin", email=None, phone=None), NOTHING, config, SMS_LETTERS, local(2026, 12, 23))
    assert nobody.letters == () and nobody.state == "done" and nobody.next, "tried again next time"


def test_an_agency_followup_goes_to_where_the_inquiry_went_and_the_caseworker_hears(config: Config) -> None:
    history = AgencyHistory([("agency-inquiry", "liaison@irs.gov", "sent", local(2026, 11, 24, 11))])
    facts = replace(NOTHING, agency={7: history})
    plan = plan_reminder(due("agency-followup"), facts, config, SMS_LETTERS, local(2026, 12, 23, 9, 5))
    assert [(q.name, q.recipient, q.automatic) for q in plan.letters] == [
        ("agency-followup", "liaison@irs.gov", ""),
        ("caseworker-notification", "maria.lopez@doe.example.gov", "auto-generated")]
    assert plan.letters[1].context["notice"] == "Follow-up 1 sent to IRS", "the agency's short name"
    assert plan.letters[1].context["text"] == "No answer to the inquiry of November 24, 2026."
    assert plan.event.startswith("Follow-up 1 sent to IRS Taxpayer Advocate Service: no answer")
    saturday = plan_reminder(due("agency-followup"), facts, config, SMS_LETTERS, local(2026, 12, 26, 9, 5))
    assert (saturday.state, saturday.due_at) == ("pending", local(2026, 12, 28, 9, 7)), "on business days"


def test_followups_since_the_last_answer_count_toward_the_limit(config: Config) -> None:
    letters = [("agency-inquiry", "liaison@irs.gov", "sent", local(2026, 11, 24)),
               *[("agency-followup", "liaison@irs.gov", "sent", local(2026, 12, day)) for day in (1, 8, 15)]]
    answered_between = AgencyHistory(letters, last_answer=local(2026, 12, 10))
    plan = plan_reminder(due("agency-followup"), replace(NOTHING, agency={7: answered_between}), config,
                         SMS_LETTERS, local(2026, 12, 22))
    assert plan.outcome == "agency follow-up", "one unanswered since the answer"
    never = AgencyHistory(letters)
    escalated = plan_reminder(due("agency-followup"), replace(NOTHING, agency={7: never}), config, SMS_LETTERS,
                              local(2026, 12, 22))
    assert escalated.outcome == "escalated" and escalated.next == ()
    assert [q.recipient for q in escalated.letters] == ["maria.lopez@doe.example.gov"], "supervisor = intake, once"
    waiting = AgencyHistory([*letters[:1], ("agency-followup", "liaison@irs.gov", "pending", local(2026, 12, 21))])
    assert plan_reminder(due("agency-followup"), replace(NOTHING, agency={7: waiting}), config, SMS_LETTERS,
                         local(2026, 12, 22)).letters == ()


def test_closing_letter_then_survey_unless_reopened_or_already_sent(config: Config) -> None:
    closed = due("case-closed", status="closed", closed_at=local(2027, 3, 4, 11))
    plan = plan_reminder(closed, NOTHING, config, SMS_LETTERS, local(2027, 3, 4, 11, 1))
    assert [q.name for q in plan.letters] == ["case-closed"]
    assert plan.next == (("survey", local(2027, 3, 7, 9, 7), ""),)
    by_hand = replace(NOTHING, closing_letters={7: local(2027, 3, 4, 10, 59)})
    assert plan_reminder(closed, by_hand, config, SMS_LETTERS, local(2027, 3, 4, 11, 1)).letters == ()
    reopened = plan_reminder(due("survey"), NOTHING, config, SMS_LETTERS, local(2027, 3, 7))
    assert (reopened.state, reopened.letters) == ("cancelled", ())


def test_nudges_for_unassigned_and_for_unanswered_urgent_cases(config: Config) -> None:
    now = local(2026, 11, 23, 13)
    unassigned = plan_reminder(due("nudge", assignee=None), NOTHING, config, SMS_LETTERS, now)
    assert unassigned.outcome == "nudge" and "Nobody is assigned" in unassigned.why
    urgent = plan_reminder(due("nudge", labels=["urgent"]), NOTHING, config, SMS_LETTERS, now)
    assert urgent.outcome == "nudge" and urgent.why.startswith("Urgent case not answered")
    answered = plan_reminder(due("nudge", labels=["urgent"]), replace(NOTHING, answered={7}), config, SMS_LETTERS,
                             now)
    assert answered.outcome == "nudge not needed" and answered.letters == ()


def test_a_closed_case_cancels_what_is_left(config: Config) -> None:
    for kind in ("checkin", "agency-followup", "followup", "nudge"):
        plan = plan_reminder(due(kind, status="closed"), NOTHING, config, SMS_LETTERS, local(2026, 12, 1))
        assert (plan.state, plan.letters) == ("cancelled", ()), kind


def test_the_schedule_keys_are_checked(tmp_path: Path) -> None:
    path = init_office(tmp_path / "office")
    text = path.read_text()
    path.write_text(text.replace('report_day = "monday"', 'report_day = "someday"'))
    with pytest.raises(ConfigError, match=r"\[schedule\] report_day: not a weekday"):
        config_module.load(path)
    path.write_text(text.replace('workday_end = "17:00"', 'workday_end = "08:00"'))
    with pytest.raises(ConfigError, match="workday_end: must be later than workday_start"):
        config_module.load(path)
    path.write_text(text.replace("checkin_days = 30", "checkin_days = -1"))
    with pytest.raises(ConfigError, match="checkin_days: must be 0 or more"):
        config_module.load(path)
