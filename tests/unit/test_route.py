"""Routing is a pure decision: who sent it, what screening said, what thread found -> one fate."""

from __future__ import annotations

import pytest

from hub.config import Agency, Staff
from hub.intake.identify import Identity
from hub.intake.route import CaseFacts, MarkBounced, OpenCase, QueueLetter, route
from hub.intake.screen import OK, Screening
from hub.intake.thread import NO_CASE, CaseMatch

FACTS = CaseFacts(7, "CW-26-00007-AB", "pat@example.com", None)
MATCH = CaseMatch(FACTS, "subject")
CONSTITUENT = Identity("constituent")
AGENCY = Identity("agency", agency=Agency("ssa", "SSA", ("ssa.gov",), "", 20, False))
STAFF = Identity("staff", staff=Staff("Maria", "maria@doe.example.gov"))


def test_a_new_constituent_gets_a_case_and_an_acknowledgement() -> None:
    decision = route(OK, CONSTITUENT, NO_CASE, "pat@example.com")
    assert (decision.disposition, decision.kind) == ("case", "constituent")
    assert decision.effects == (OpenCase(), QueueLetter("acknowledgement", "constituent"))


@pytest.mark.parametrize("identity, kind", [(CONSTITUENT, "constituent"), (AGENCY, "agency"), (STAFF, "staff")])
def test_parties_on_a_known_case_are_appended_without_letters(identity: Identity, kind: str) -> None:
    decision = route(OK, identity, MATCH, "pat@example.com")
    assert (decision.disposition, decision.kind, decision.case_id, decision.effects) == ("case", kind, 7, ())


def test_a_stranger_holding_a_reference_is_held_for_a_caseworker() -> None:
    decision = route(OK, CONSTITUENT, MATCH, "stranger@example.org")
    assert (decision.disposition, decision.case_id, decision.triage_case_id) == ("triage", None, 7)
    assert decision.effects == ()


@pytest.mark.parametrize("identity", [AGENCY, STAFF, Identity("office"), Identity("unknown")])
def test_nobody_but_a_constituent_opens_a_case(identity: Identity) -> None:
    decision = route(OK, identity, NO_CASE, "x@ssa.gov")
    assert decision.disposition == "triage" and decision.effects == ()


@pytest.mark.parametrize("verdict", ["auto-reply", "list", "own-mail", "bounce"])
def test_automatic_mail_opens_nothing_and_sends_nothing(verdict: str) -> None:
    screening = Screening(verdict, "because")
    assert route(screening, CONSTITUENT, NO_CASE, "pat@example.com").disposition == "triage"
    on_case = route(screening, CONSTITUENT, MATCH, "pat@example.com")
    assert (on_case.disposition, on_case.case_id) == ("case", 7)
    assert on_case.kind == ("bounce" if verdict == "bounce" else "auto-reply")
    assert not any(isinstance(e, (OpenCase, QueueLetter)) for e in on_case.effects)


def test_a_bounce_marks_the_failed_addresses_even_without_a_case() -> None:
    screening = Screening("bounce", "DSN", failed_recipients=("pat@example.com",))
    decision = route(screening, Identity("constituent"), NO_CASE, "mailer-daemon@mx.example.com")
    assert decision.effects == (MarkBounced(("pat@example.com",), "DSN"),)
