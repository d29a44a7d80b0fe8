"""Routing is a pure decision: who sent it, what screening said, what thread found -> one fate and its effects."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from hub.core.agency_directory import Agency
from hub.core.config import Config, load
from hub.core.config_values import Staff
from hub.intake.identify import Identity
from hub.intake.message import InboundMessage
from hub.intake.route import (
    AgencyAnswered,
    AnswerTriage,
    CaseFacts,
    MarkBounced,
    Notify,
    OpenCase,
    QueueLetter,
    SetAgency,
    SetAgencyControl,
    StaffMail,
    StartReminders,
    TellIntake,
    control_number,
    route,
)
from hub.intake.screen import OK, Screening
from hub.intake.thread import NO_CASE, CaseMatch
from hub.run.office import init_office

FACTS = CaseFacts(7, "CW-26-00007-AB", "pat@example.com", None)
MATCH = CaseMatch(FACTS, "subject")
CONSTITUENT = Identity("constituent")
SSA = Agency("ssa", "Social Security Administration", ("ssa.gov",), "liaison@ssa.gov", 20, False,
             re.compile(r"Control No\.?\s*([0-9]{4}-[A-Z]{2}-[0-9]+)"), short="SSA")
AGENCY = Identity("agency", agency=SSA)
MARIA = Staff("Maria Lopez", "maria@doe.example.gov")
STAFF = Identity("staff", staff=MARIA)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    loaded = load(init_office(tmp_path_factory.mktemp("office")))
    return replace(loaded, agencies=(SSA, replace(SSA, key="va", name="VA", short="", domains=("va.gov",), liaison="")))


def mail(sender: str = "pat@example.com", text: str = "Any news?", subject: str = "Re: help",
         name: str = "") -> InboundMessage:
    return InboundMessage(channel="email", source="test", dedupe_key="k", raw=b"", sender=sender, subject=subject,
                          text=text, new_text=text, sender_name=name)


def test_a_new_constituent_gets_a_case_an_acknowledgement_and_a_caseworker_notice(config: Config) -> None:
    decision = route(OK, CONSTITUENT, NO_CASE, mail(name="Pat  Rivera"), config)
    assert (decision.disposition, decision.kind) == ("case", "constituent")
    assert decision.effects == (OpenCase(), QueueLetter("acknowledgement", "constituent", "auto-replied"),
                                Notify("New case from Pat Rivera"), StartReminders())
    nameless = route(OK, CONSTITUENT, NO_CASE, mail(), config)
    assert nameless.effects[2] == Notify("New case from pat@example.com")


def test_the_constituent_on_a_known_case_is_appended_and_the_caseworker_told(config: Config) -> None:
    decision = route(OK, CONSTITUENT, MATCH, mail(), config)
    assert (decision.disposition, decision.case_id) == ("case", 7)
    assert decision.effects == (Notify("New message from pat@example.com"),)


def test_an_agency_answer_sets_the_agency_and_keeps_its_control_number(config: Config) -> None:
    decision = route(OK, AGENCY, MATCH, mail("clerk@ssa.gov", subject="RE: inquiry Control No. 2026-CI-01234"),
                     config)
    assert decision.kind == "agency"
    assert decision.effects == (SetAgency("ssa"), AgencyAnswered(), SetAgencyControl("2026-CI-01234"),
                                Notify("Answer from SSA")), "notice last: to the assignee"
    known = CaseMatch(replace(FACTS, agency="ssa", agency_control="2026-CI-00001"), "subject")
    again = route(OK, AGENCY, known, mail("clerk@ssa.gov", subject="Control No. 2026-CI-01234"), config)
    assert again.effects == (AgencyAnswered(), Notify("Answer from SSA")), \
        "the first number stays"


def test_control_numbers_come_from_the_subject_then_the_text() -> None:
    assert control_number(SSA, mail(subject="Inquiry", text="Our Control No. 2026-CI-77 refers")) == "2026-CI-77"
    assert control_number(SSA, mail(subject="Inquiry", text="nothing here")) is None
    assert control_number(None, mail(subject="Control No. 2026-CI-77")) is None


def test_a_caseworker_on_a_case_is_handed_to_the_staff_stage(config: Config) -> None:
    decision = route(OK, STAFF, MATCH, mail(MARIA.email, "#assign sam\nYour claim was approved."), config)
    assert (decision.disposition, decision.kind, decision.case_id) == ("case", "staff", 7)
    assert decision.effects == (StaffMail(),)


def test_a_stranger_holding_a_reference_is_held_for_a_caseworker(config: Config) -> None:
    decision = route(OK, CONSTITUENT, MATCH, mail("stranger@example.org"), config)
    assert (decision.disposition, decision.case_id, decision.triage_case_id) == ("triage", None, 7)
    assert decision.effects == (TellIntake(),), "the intake address is told, and nothing else happens"


@pytest.mark.parametrize("identity", [AGENCY, STAFF, Identity("office"), Identity("unknown")])
def test_nobody_but_a_constituent_opens_a_case(config: Config, identity: Identity) -> None:
    decision = route(OK, identity, NO_CASE, mail("x@ssa.gov"), config)
    assert decision.disposition == "triage" and decision.effects == (TellIntake(),)


def test_a_caseworkers_answer_to_a_triage_notice_places_the_held_message(config: Config) -> None:
    answering = CaseMatch(None, "triage-notice", triage_item=41)
    decision = route(OK, STAFF, answering, mail(MARIA.email, "#case CW-26-00007-AB"), config)
    assert (decision.disposition, decision.kind, decision.case_id) == ("command", "staff", None)
    assert decision.effects == (AnswerTriage(41),)
    auto = route(Screening("auto-reply", "away"), STAFF, answering, mail(MARIA.email), config)
    assert auto.disposition == "triage" and AnswerTriage(41) not in auto.effects, "an out-of-office places nothing"


@pytest.mark.parametrize("verdict", ["auto-reply", "list", "own-mail", "bounce"])
def test_automatic_mail_opens_nothing_and_sends_nothing(config: Config, verdict: str) -> None:
    screening = Screening(verdict, "because")
    held = route(screening, CONSTITUENT, NO_CASE, mail(), config)
    assert held.disposition == "triage" and held.effects == (), "held without a notice: no flood of robots' mail"
    on_case = route(screening, CONSTITUENT, MATCH, mail(), config)
    assert (on_case.disposition, on_case.case_id) == ("case", 7)
    assert on_case.kind == ("bounce" if verdict == "bounce" else "auto-reply")
    assert on_case.effects == ()


def test_a_bounce_marks_the_failed_addresses_even_without_a_case(config: Config) -> None:
    screening = Screening("bounce", "DSN", failed_recipients=("pat@example.com",))
    decision = route(screening, CONSTITUENT, NO_CASE, mail("mailer-daemon@mx.example.com"), config)
    assert decision.effects == (MarkBounced(("pat@example.com",), "DSN"),)


def test_a_bounce_of_the_constituents_address_tells_the_caseworker_but_no_other_bounce_does(config: Config) -> None:
    constituent = Screening("bounce", "DSN", failed_recipients=("pat@example.com",))
    effects = route(constituent, CONSTITUENT, MATCH, mail("mailer-daemon@mx.example.com"), config).effects
    assert effects == (MarkBounced(("pat@example.com",), "DSN"), Notify("Mail to the constituent bounced", "DSN."))
    caseworker = Screening("bounce", "DSN", failed_recipients=("maria@doe.example.gov",))
    effects = route(caseworker, CONSTITUENT, MATCH, mail("mailer-daemon@mx.example.com"), config).effects
    assert effects == (MarkBounced(("maria@doe.example.gov",), "DSN"),), "no notice that would bounce again"


@pytest.mark.parametrize("word", ["HELP", "STOP", "START"])
def test_a_keyword_from_a_number_with_no_case_is_answered_and_held_without_a_notice(config: Config,
                                                                                    word: str) -> None:
    text = replace(mail("+19195550142", word), channel="sms")
    decision = route(OK, CONSTITUENT, NO_CASE, text, config)
    assert decision.disposition == "triage" and decision.effects and TellIntake() not in decision.effects
