"""A reply to a closed case reopens it, as the closing letter promises: within `[schedule] reopen_days` of
the closing the constituent's message reopens the case, cancels the survey and the notice says so; later,
it opens a new case that names the old one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.cli.case_actions import run_action
from hub.core.app import Hub
from hub.core.clock import FixedClock
from hub.core.models import Case, Event, Outbox, Reminder
from hub.letters.notice_digest import NOTICE
from hub.run.cycle import run_once
from tests.helpers import email, feed, make_office

pytestmark = pytest.mark.integration

PAT = "Pat Example <pat@example.com>"


@pytest.fixture
def office(tmp_path: Path, database_url: str) -> Iterator[Hub]:
    hub = make_office(tmp_path / "office", database_url)
    yield hub
    hub.close()


def closed_case(hub: Hub) -> str:
    outcome = feed(hub, email(sender=PAT, subject="My pension"))
    assert outcome.case_ref
    run_action(hub, outcome.case_ref, "assign", "sam")
    run_action(hub, outcome.case_ref, "close", "resolved")
    later(hub, 1)
    run_once(hub)  # the closing letter goes, and the survey is scheduled
    return outcome.case_ref


def later(hub: Hub, days: int) -> None:
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(days=days))


def case(hub: Hub, ref: str) -> Case:
    with hub.sessions() as session:
        return session.scalars(select(Case).where(Case.ref == ref)).one()


def notices(hub: Hub, case_id: int) -> list[tuple[str, str]]:
    """Each notice on the case: what happened (its subject) and the rest."""
    with hub.sessions() as session:
        return [(str(row.context.get("notice")), str(row.context.get("text"))) for row in session.scalars(
            select(Outbox).where(Outbox.case_id == case_id, Outbox.letter == NOTICE).order_by(Outbox.id))]


def test_a_reply_soon_after_the_closing_reopens_the_case_and_cancels_the_survey(office: Hub) -> None:
    ref = closed_case(office)
    with office.sessions() as session:
        survey = session.scalars(select(Reminder).where(Reminder.kind == "survey")).one()
        assert survey.state == "pending"
    later(office, 10)
    outcome = feed(office, email(sender=PAT, subject=f"Re: [{ref}] We have closed your case",
                                 body="It stopped again this month. Can you look again?"))
    assert (outcome.fate, outcome.case_ref) == ("case", ref)
    reopened = case(office, ref)
    assert (reopened.status, reopened.closed_at, reopened.close_reason) == ("open", None, None)
    with office.sessions() as session:
        survey = session.scalars(select(Reminder).where(Reminder.kind == "survey")).one()
        assert (survey.state, survey.closed_by) == ("cancelled", "the case was reopened")
        assert session.scalars(select(Reminder).where(Reminder.case_id == reopened.id, Reminder.kind == "checkin",
                                                      Reminder.state == "pending")).first() is not None
        (event,) = session.scalars(select(Event).where(Event.case_id == reopened.id, Event.kind == "reopened"))
        assert event.actor == "pat@example.com"
    notice, text = notices(office, reopened.id)[-1]
    assert notice == "New message from Pat Example"
    assert text.startswith("It reopened the case, closed on "), text


def test_a_message_long_after_the_closing_opens_a_new_case_that_names_the_old_one(office: Hub) -> None:
    ref = closed_case(office)
    later(office, 61)  # past the default reopen_days of 60
    outcome = feed(office, email(sender=PAT, subject=f"Re: [{ref}] We have closed your case",
                                 body="Now my Medicare card is wrong."))
    assert outcome.fate == "new-case" and outcome.case_ref not in (None, ref)
    assert case(office, ref).status == "closed", "the old case stays as it was closed"
    new = case(office, str(outcome.case_ref))
    notice, text = notices(office, new.id)[-1]
    assert notice == "New case from Pat Example"
    assert text.startswith(f"This constituent's earlier case {ref} was closed on "), text
    with office.sessions() as session:
        opened = session.scalars(select(Event).where(Event.case_id == new.id, Event.kind == "case-opened")).one()
        assert ref in opened.detail
