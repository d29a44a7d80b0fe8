"""Agencies are authenticated, not believed: mail from an agency's domain counts as the agency's only when
the office's own server vouches for it (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from hub.cli.case_actions import run_action
from hub.core.app import Hub
from hub.core.models import Case, Message, Outbox, Reminder
from tests.helpers import email, feed, make_office, trust_warnings

pytestmark = pytest.mark.integration
LIAISON = "congressional.liaison@ssa.gov"
SERVER = "mx.doe.example.gov"


def case_waiting_on_ssa(hub: Hub) -> str:
    ref = feed(hub, email(sender="Pat Example <pat@example.com>", subject="My disability payments stopped")).case_ref
    assert ref is not None
    run_action(hub, ref, "agency", "ssa")
    with hub.sessions.begin() as session:
        session.scalars(select(Case).where(Case.ref == ref)).one().status = "pending-agency"
    return ref


def answer(ref: str, results: str | None, sender: str = f"SSA Liaison <{LIAISON}>") -> bytes:
    headers = {"Authentication-Results": results} if results else {}
    return email(sender=sender, subject=f"RE: [{ref}] Congressional inquiry", body="The claim was approved.",
                 headers=headers)


def state(hub: Hub, ref: str) -> tuple[str, int, list[str]]:
    """The case's status, its agency messages, and the notices queued for it."""
    with hub.sessions() as session:
        case = session.scalars(select(Case).where(Case.ref == ref)).one()
        agency_mail = session.scalars(select(Message.id).where(Message.case_id == case.id,
                                                               Message.kind == "agency")).all()
        notices = session.scalars(select(Outbox).where(Outbox.case_id == case.id,
                                                       Outbox.letter == "caseworker-notification")).all()
        return case.status, len(agency_mail), [str(n.context.get("notice")) for n in notices]


@pytest.mark.parametrize("results", [
    None,
    f"{SERVER}; dkim=fail header.d=ssa.gov; spf=fail smtp.mailfrom=ssa.gov; dmarc=fail header.from=ssa.gov",
    f"{SERVER}; dkim=pass header.d=forger.example; spf=pass smtp.mailfrom=forger.example",
    "mx.forger.example; dkim=pass header.d=ssa.gov; dmarc=pass header.from=ssa.gov",
])
def test_a_forged_agency_answer_goes_to_triage_and_changes_nothing(hub: Hub, results: str | None) -> None:
    ref = case_waiting_on_ssa(hub)
    before = state(hub, ref)

    outcome = feed(hub, answer(ref, results))

    assert outcome.fate == "triage" and outcome.reason.startswith("unauthenticated agency mail")
    assert state(hub, ref) == before, "no status change, no 'Answer from SSA', no notice"
    with hub.sessions() as session:
        held = session.scalars(select(Message).where(Message.disposition == "triage")).one()
        assert held.case_id is None and held.kind == "agency"


@pytest.mark.parametrize("results", [
    f"{SERVER}; dmarc=pass header.from=ssa.gov",
    f"{SERVER}; dkim=pass header.d=ssa.gov",
    f"{SERVER}; spf=pass smtp.mailfrom=ssa.gov",
])
def test_an_authenticated_agency_answer_lands_on_its_case(hub: Hub, results: str) -> None:
    ref = case_waiting_on_ssa(hub)

    outcome = feed(hub, answer(ref, results))

    assert (outcome.fate, outcome.case_ref) == ("case", ref)
    status, agency_mail, notices = state(hub, ref)
    assert (status, agency_mail) == ("open", 1) and notices[-1] == "Answer from SSA"


def test_a_forged_answer_leaves_the_agency_follow_up_pending(hub: Hub) -> None:
    ref = case_waiting_on_ssa(hub)
    with hub.sessions.begin() as session:
        case = session.scalars(select(Case).where(Case.ref == ref)).one()
        session.add(Reminder(case_id=case.id, kind="agency-followup", due_at=hub.clock.now(), state="pending",
                             created_at=hub.clock.now()))

    feed(hub, answer(ref, None))

    with hub.sessions() as session:
        assert session.scalars(select(Reminder.state).where(Reminder.kind == "agency-followup")).all() == ["pending"]


def test_an_agency_marked_as_never_authenticating_is_trusted_by_domain_with_a_warning_at_start(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    hub = make_office(tmp_path / "office", database_url, agencies={"ssa": {"require_authentication": False}})
    try:
        ref = case_waiting_on_ssa(hub)
        outcome = feed(hub, answer(ref, None))
        assert (outcome.fate, outcome.case_ref) == ("case", ref)
    finally:
        hub.close()

    assert trust_warnings(tmp_path / "office/config/hub.toml", caplog) == [
        "agencies.toml: Social Security Administration (ssa): require_authentication = false: anyone who writes an "
        "address of its domains into From: can answer for the agency on a case"]
