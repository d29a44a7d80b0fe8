"""The hub's calendar, with the injected clock: a case lives 120 days and gets exactly the letters it should,
on the days it should; an agency answer cancels the follow-up; a hub down for weeks sends one follow-up,
not a burst; unanswered follow-ups reach the supervisor; nudges; a caseworker's own follow-up date.

Each day the hub runs one cycle at 10:05 in the office's zone (America/New_York): the letters the hub
sends by itself fall due over the first hour of the office's day (09:00 plus a minute per case), so the
daemon's minute-by-minute sweep would have found the same ones due by then.
"""

from __future__ import annotations

import mailbox
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select

from hub.cases import letter_send
from hub.cli.case_actions import run_action
from hub.core.app import Hub
from hub.core.calendar import is_business_day
from hub.core.clock import FixedClock
from hub.core.models import Case, Event, Outbox, Reminder
from hub.run.cycle import run_once
from hub.schedule.sweep import SweepReport
from tests.helpers import email, make_office, vouched

NEW_YORK = ZoneInfo("America/New_York")
PAT = "pat@example.com"
LIAISON = "liaison@irs.gov"
MARIA = "maria.lopez@doe.example.gov"
OPENED = datetime(2026, 11, 23, 9, 0, tzinfo=NEW_YORK)  # a Monday


@pytest.fixture
def office(tmp_path: Path, database_url: str) -> Iterator[Hub]:
    # The IRS Taxpayer Advocate Service: 20 business days to answer (agencies.toml), follow-ups 10 business
    # days apart (the office's default), the next update 20 business days after an answer.
    hub = make_office(tmp_path / "office", database_url, clock=FixedClock(OPENED),
                      agencies={"irs": {"liaison": LIAISON}})
    yield hub
    hub.close()


def at(hub: Hub, day: date, hour: int = 10) -> None:
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.at = datetime(day.year, day.month, day.day, hour, 5, tzinfo=NEW_YORK).astimezone(UTC)


def arrive(hub: Hub, raw: bytes) -> None:
    mailbox.Maildir(hub.config.resolve("var/inbox")).add(raw)


def sent(hub: Hub, staff: bool = False) -> list[tuple[str, str, date]]:
    """(letter, recipient, office date sent) of every letter that went, in order: to the constituent and the
    agency, or (`staff`) the hub's mail to the office's people other than case notices."""
    with hub.sessions() as session:
        rows = session.scalars(select(Outbox).where(Outbox.state == "sent",
                                                    Outbox.letter != "caseworker-notification",
                                                    (Outbox.recipient == MARIA) == staff)
                               .order_by(Outbox.sent_at, Outbox.id))
        return [(row.letter, row.recipient, row.sent_at.astimezone(NEW_YORK).date()) for row in rows if row.sent_at]


def notices(hub: Hub) -> list[tuple[str, str, date]]:
    with hub.sessions() as session:
        rows = session.scalars(select(Outbox).where(Outbox.letter == "caseworker-notification", Outbox.state == "sent")
                               .order_by(Outbox.id))
        return [(str(row.context.get("notice", "")), row.recipient, row.created_at.astimezone(NEW_YORK).date())
                for row in rows]


def pending(hub: Hub, kind: str) -> list[date]:
    with hub.sessions() as session:
        rows = session.scalars(select(Reminder).where(Reminder.kind == kind, Reminder.state == "pending"))
        return [row.due_at.astimezone(NEW_YORK).date() for row in rows]


def days(start: date, end: date) -> Iterator[date]:
    while start <= end:
        yield start
        start += timedelta(days=1)


def agency_answer(hub: Hub, ref: str, text: str) -> bytes:
    return email(f"IRS TAS <{LIAISON}>", subject=f"RE: [{ref}] Congressional inquiry", body=text,
                 date=hub.clock.now(), headers={"Authentication-Results": vouched(LIAISON)})


def test_a_case_lives_120_days_and_gets_exactly_the_expected_letters(office: Hub) -> None:
    hub = office
    arrive(hub, email(f"Pat Rivera <{PAT}>", subject="My refund never came", body="My 2025 refund is months late."))
    run_once(hub)
    (ref,) = [case.ref for case in _cases(hub)]
    run_action(hub, ref, "assign", "maria")
    run_action(hub, ref, "agency", "irs")
    letter_send.send(hub, "privacy-release-request", ref, None, False)
    run_once(hub)

    actions = {
        # The signed release comes back; the inquiry goes to the liaison.
        date(2026, 11, 24): lambda: (run_action(hub, ref, "release", "received 2026-11-24"),
                                     letter_send.send(hub, "agency-inquiry", ref, None, False)),
        # The agency sends an interim answer; the caseworker sends the constituent an update the next day.
        date(2027, 1, 11): lambda: arrive(hub, agency_answer(hub, ref, "We are reviewing the account.")),
        date(2027, 1, 12): lambda: letter_send.send(hub, "constituent-update", ref, None, False),
        # The final answer; the caseworker closes the case the next day.
        date(2027, 3, 3): lambda: arrive(hub, agency_answer(hub, ref, "The refund was issued today.")),
        date(2027, 3, 4): lambda: run_action(hub, ref, "close", "resolved"),
    }
    for day in days(date(2026, 11, 24), OPENED.date() + timedelta(days=120)):
        at(hub, day)
        run_once(hub)  # 10:05: what fell due in the first hour of the office's day
        if day in actions:
            at(hub, day, 11)
            actions[day]()
            run_once(hub)

    assert sent(hub) == [
        ("acknowledgement", PAT, date(2026, 11, 23)),
        ("privacy-release-request", PAT, date(2026, 11, 23)),
        ("agency-inquiry", LIAISON, date(2026, 11, 24)),
        # 30 days after the last letter to Pat (November 23).
        ("constituent-checkin", PAT, date(2026, 12, 23)),
        # 20 business days after November 24: Thanksgiving (Nov 26) skipped.
        ("agency-followup", LIAISON, date(2026, 12, 23)),
        # 10 business days after the follow-up went: Christmas and New Year's Day skipped.
        ("agency-followup", LIAISON, date(2027, 1, 8)),
        # (The agency answered on January 11: the follow-up due January 25 was cancelled.)
        ("constituent-update", PAT, date(2027, 1, 12)),
        # 20 business days after the answer (Martin Luther King Day, January 18, skipped).
        ("agency-followup", LIAISON, date(2027, 2, 9)),
        # 30 days after the update of January 12: the check-in due January 22 waited for it.
        ("constituent-checkin", PAT, date(2027, 2, 11)),
        # 10 business days after February 9 (Presidents Day, February 15, skipped).
        ("agency-followup", LIAISON, date(2027, 2, 24)),
        # Closed on March 4 (the agency's answer of March 3 had cancelled the follow-up due March 10).
        ("case-closed", PAT, date(2027, 3, 4)),
        ("satisfaction-survey", PAT, date(2027, 3, 7)),
    ]
    assert all(is_business_day(day) for letter, _, day in sent(hub) if letter.startswith("agency-"))
    mondays = [day for day in days(date(2026, 11, 30), date(2027, 3, 23)) if day.weekday() == 0]
    assert [day for letter, _, day in sent(hub, staff=True) if letter == "weekly-report"] == mondays
    told = [(day, who) for notice, who, day in notices(hub) if notice.startswith("Follow-up")]
    assert told == [(date(2026, 12, 23), MARIA), (date(2027, 1, 8), MARIA), (date(2027, 2, 9), MARIA),
                    (date(2027, 2, 24), MARIA)], "the caseworker hears of each follow-up"
    with hub.sessions() as session:
        reminders = list(session.scalars(select(Reminder).order_by(Reminder.id)))
    assert [r for r in reminders if r.state == "pending"] == [], "nothing left to do on a closed, surveyed case"
    answered = [r for r in reminders if r.kind == "agency-followup" and r.closed_by.startswith("the agency answered")]
    assert [r.due_at.astimezone(NEW_YORK).date() for r in answered] == [date(2027, 1, 25), date(2027, 3, 10)]
    (moved,) = [r for r in reminders if r.kind == "checkin" and r.closed_by.startswith("constituent-checkin queued")
                and r.due_at.astimezone(NEW_YORK).date() == date(2027, 2, 11)]
    assert moved.created_at.astimezone(NEW_YORK).date() == date(2026, 12, 23), "the same row, moved from Jan 22"


def test_a_hub_down_for_weeks_sends_one_followup_per_inquiry_not_a_burst(office: Hub) -> None:
    hub = office
    ref = _case_with_inquiry(hub)
    # Down from November 25 until February 1: four follow-up dates went by.
    at(hub, date(2027, 2, 1))
    run_once(hub)
    assert [letter for letter, _, day in sent(hub) if day == date(2027, 2, 1)].count("agency-followup") == 1
    assert pending(hub, "agency-followup") == [date(2027, 2, 16)], "counted from when it went (Presidents Day off)"
    at(hub, date(2027, 2, 2))
    run_once(hub)
    assert [letter for letter, *_ in sent(hub)].count("agency-followup") == 1
    assert ref


def test_unanswered_followups_reach_the_supervisor_and_the_hub_stops_chasing(office: Hub) -> None:
    hub = office
    _case_with_inquiry(hub)
    for day in days(date(2026, 11, 25), date(2027, 3, 31)):
        at(hub, day)
        run_once(hub)
    followups = [day for letter, _, day in sent(hub) if letter == "agency-followup"]
    assert followups == [date(2026, 12, 23), date(2027, 1, 8), date(2027, 1, 25)], "the limit is 3"
    (escalation,) = [(notice, day) for notice, _, day in notices(hub) if notice.startswith("No answer from")]
    # 10 business days after January 25: February 8.
    assert escalation[1] == date(2027, 2, 8)
    assert escalation[0] == "No answer from IRS", "the agency's short name"
    with hub.sessions() as session:
        event = session.scalars(select(Event).where(Event.kind == "reminder-escalated")).one()
    assert event.detail.startswith("No answer from IRS Taxpayer Advocate Service after 3 follow-ups")
    assert "raised with the supervisor" in event.detail
    assert pending(hub, "agency-followup") == []


def test_an_agency_answer_cancels_the_followup_and_sets_the_next_at_its_cadence(office: Hub) -> None:
    hub = office
    ref = _case_with_inquiry(hub)
    assert pending(hub, "agency-followup") == [date(2026, 12, 23)]
    at(hub, date(2026, 12, 1), 14)
    arrive(hub, agency_answer(hub, ref, "We received your inquiry and are working on it."))
    run_once(hub)
    # 20 business days after December 1: December 29 (Christmas off).
    assert pending(hub, "agency-followup") == [date(2026, 12, 30)]
    with hub.sessions() as session:
        (cancelled,) = session.scalars(select(Reminder).where(Reminder.state == "cancelled",
                                                              Reminder.kind == "agency-followup"))
    assert cancelled.closed_by.startswith("the agency answered (message ")
    assert cancelled.due_at.astimezone(NEW_YORK).date() == date(2026, 12, 23)


def test_an_unassigned_case_is_raised_after_four_business_hours(office: Hub) -> None:
    hub = office
    at(hub, date(2026, 11, 25), 15)  # Wednesday 3 p.m.: two hours left that day, Thanksgiving off
    arrive(hub, email(f"Pat Rivera <{PAT}>", subject="Passport", body="I need my passport."))
    run_once(hub)
    assert pending(hub, "nudge") == [date(2026, 11, 27)]
    at(hub, date(2026, 11, 27), 10)
    run_once(hub)
    assert not [n for n in notices(hub) if n[0] == "Nobody assigned"], "due at 11:00, not yet"
    at(hub, date(2026, 11, 27), 11)
    run_once(hub)
    (nudge,) = [n for n in notices(hub) if n[0] == "Nobody assigned"]
    assert nudge[1] == MARIA, "the intake address (no supervisor is marked: the intake address again, once)"


def test_a_caseworker_followup_date_mails_them_on_the_day(office: Hub) -> None:
    hub = office
    arrive(hub, email(f"Pat Rivera <{PAT}>", subject="Pension", body="My pension stopped."))
    run_once(hub)
    (ref,) = [case.ref for case in _cases(hub)]
    run_action(hub, ref, "followup", "2026-12-02 call the pension office", actor=MARIA)
    run_once(hub)
    for day in days(date(2026, 11, 24), date(2026, 12, 3)):
        at(hub, day)
        run_once(hub)
    mine = [(letter, day) for letter, who, day in sent(hub, staff=True)]
    assert ("followup-invitation", date(2026, 11, 23)) in mine
    assert [day for letter, day in mine if letter == "followup-reminder"] == [date(2026, 12, 2)]


def test_cases_from_before_the_schedule_get_their_reminders_once(office: Hub) -> None:
    hub = office
    _case_with_inquiry(hub)
    with hub.sessions.begin() as session:
        session.execute(delete(Reminder))  # as a database from before reminders were rows
    at(hub, date(2026, 11, 25))
    assert run_once(hub).reminders == SweepReport(Counter({"set for older cases": 2}))
    assert pending(hub, "checkin") == [date(2026, 12, 23)], "30 days after the last letter to Pat (the acknowledgement)"
    assert pending(hub, "agency-followup") == [date(2026, 12, 23)], "20 business days after the inquiry"
    at(hub, date(2026, 11, 26))
    assert run_once(hub).reminders == SweepReport(), "once"


def _cases(hub: Hub) -> list[Case]:
    with hub.sessions() as session:
        return list(session.scalars(select(Case).order_by(Case.id)))


def _case_with_inquiry(hub: Hub) -> str:
    """A case assigned to Maria with a release on file and the IRS inquiry sent on Tuesday, November 24."""
    arrive(hub, email(f"Pat Rivera <{PAT}>", subject="My refund never came", body="My 2025 refund is months late."))
    run_once(hub)
    (ref,) = [case.ref for case in _cases(hub)]
    run_action(hub, ref, "assign", "maria")
    run_action(hub, ref, "agency", "irs")
    at(hub, date(2026, 11, 24), 11)
    run_action(hub, ref, "release", "received 2026-11-24")
    letter_send.send(hub, "agency-inquiry", ref, None, False)
    run_once(hub)
    return ref
