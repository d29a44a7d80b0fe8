"""Other people on a case (a spouse, a representative), on SQLite and PostgreSQL: `#person add NAME EMAIL|PHONE
ROLE` by authenticated staff mail and `hub case person REF add|remove …`; their mail and texts join the case
without triage and never run commands; letters and a caseworker's text go to them (`person:NAME`) once; a
removed person's mail goes to triage; bad forms are one-line refusals; `case show --json` lists them and the
constituent's further contacts; a merge takes them to the kept case."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from hub.cases import letter_send
from hub.cli.main import main as hub_cli
from hub.core.app import Hub
from hub.core.errors import UserError
from hub.core.models import CasePerson, Message
from tests.helpers import OFFICE_ADDRESS, STAFF
from tests.integration.test_commands import answer, arrive, case_of, from_staff, mail, new_case, subject, text_of
from tests.integration.test_sms import PAT, cycle, mail_to, office, text, texts_to, twilio  # noqa: F401
from tests.servers.smtp import SmtpServer
from tests.servers.twilio import FakeTwilio

pytestmark = pytest.mark.integration

SPOUSE = "sam.lee@example.net"
FORM = "expected `#person add NAME EMAIL|PHONE ROLE`"


def hub_run(hub: Hub, *words: str) -> int:
    return hub_cli(["--config", str(hub.config.path), *words])


def last_inbound(hub: Hub) -> Message:
    with hub.sessions() as session:
        return session.scalars(select(Message).where(Message.direction == "in").order_by(Message.id.desc())).first()  # type: ignore[return-value]


def shown(hub: Hub, ref: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert hub_run(hub, "case", "show", ref, "--json") == 0
    view: dict[str, object] = json.loads(capsys.readouterr().out)
    return view


def test_a_spouse_added_by_mail_writes_on_the_case_gets_a_letter_once_and_runs_no_commands(
        office: Hub, smtp: SmtpServer) -> None:  # noqa: F811
    case = new_case(office)
    (notice,) = mail_to(smtp, STAFF)
    arrive(office, mail(f"Sam Lee <{SPOUSE}>", OFFICE_ADDRESS, f"Re: {case.ref} Pat's card", "I'm Pat's husband."))
    cycle(office)
    assert (last_inbound(office).disposition, last_inbound(office).reason) == (
        "triage", f"sender is not a party on {case.ref}")

    from_staff(office, answer(notice, STAFF, "#person add Sam  Lee Sam.Lee@Example.NET spouse\n"))
    cycle(office)
    assert f"Sam Lee (spouse) is on the case: email {SPOUSE}" in " ".join(text_of(mail_to(smtp, STAFF)[-1]).split())

    arrive(office, mail(f"Sam Lee <{SPOUSE}>", OFFICE_ADDRESS, f"Re: {case.ref} Pat's card",
                        "#close\n#assign maria\nPat is in hospital; please write to me for now."))
    cycle(office)
    filed = last_inbound(office)
    assert (filed.disposition, filed.case_id, filed.kind) == ("case", case.id, "constituent")
    assert subject(mail_to(smtp, STAFF)[-1]).endswith("New message from Sam Lee (spouse)")
    assert case_of(office, case.ref).status != "closed", "a person on the case runs no commands"
    assert mail_to(smtp, SPOUSE) == [], "and gets no confirmation or refusal"

    row_id, recipient = letter_send.send(office, "constituent-update", case.ref, "person:sam lee", False)
    assert recipient == SPOUSE
    cycle(office)
    cycle(office)
    assert len(mail_to(smtp, SPOUSE)) == 1
    assert "Dear Sam," in text_of(mail_to(smtp, SPOUSE)[0]), "the letter greets whom it goes to"
    assert "Dear Pat" not in text_of(mail_to(smtp, SPOUSE)[0])
    with pytest.raises(UserError, match=r"already sent"):
        letter_send.send(office, "constituent-update", case.ref, "person:Sam Lee", False)
    with pytest.raises(UserError, match=r"no person named 'Alex' \(its people: Sam Lee \(spouse\)\)"):
        letter_send.send(office, "constituent-update", case.ref, "person:Alex", False)

    from_staff(office, answer(notice, STAFF, "#to person:Sam Lee\nThank you, we will write to you.\n"))
    cycle(office)
    assert len(mail_to(smtp, SPOUSE)) == 2 and "we will write to you" in text_of(mail_to(smtp, SPOUSE)[-1])
    assert "your text goes to Sam Lee" in text_of(mail_to(smtp, STAFF)[-1])
    assert len(mail_to(smtp, "pat@example.com")) == 1, "the constituent had only the acknowledgement"

    from_staff(office, answer(notice, STAFF, "#person remove sam lee\n"))
    cycle(office)
    assert "Sam Lee (spouse) removed from the case" in " ".join(text_of(mail_to(smtp, STAFF)[-1]).split())
    arrive(office, mail(f"Sam Lee <{SPOUSE}>", OFFICE_ADDRESS, f"Re: {case.ref} Pat's card", "Any news?"))
    cycle(office)
    assert last_inbound(office).disposition == "triage"


def test_bad_person_forms_are_refused_with_one_line_and_change_nothing(
        office: Hub, smtp: SmtpServer, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    case = new_case(office)
    (notice,) = mail_to(smtp, STAFF)
    from_staff(office, answer(notice, STAFF, "#person add Sam Lee spouse\n"))
    cycle(office)
    refusal = " ".join(text_of(mail_to(smtp, STAFF)[-1]).split())
    assert "Nothing was applied" in refusal and FORM in refusal

    for words, said in [(("add", "Sam", "Lee", SPOUSE), FORM),
                        (("add", SPOUSE, "spouse"), FORM),
                        (("add", "Sam", "Lee", SPOUSE, "cousin"), FORM),
                        (("add", "Sam", "Lee", "12", "spouse"), "'12' is not an email address or a phone number"),
                        (("add", "Pat", "pat@example.com", "spouse"), "is the constituent's own contact"),
                        (("add", "Maria", STAFF, "other"), "staff are never people on a case"),
                        (("add", "SSA", "someone@ssa.gov", "representative"), "is an agency's address"),
                        (("remove", "Nobody"), "no person named 'Nobody' (its people: none)"),
                        (("hello",), FORM)]:
        capsys.readouterr()
        assert hub_run(office, "case", "person", case.ref, *words) == 1, words
        error = capsys.readouterr().err.strip()
        assert said in error and "\n" not in error, (words, error)
    with office.sessions() as session:
        assert session.scalars(select(CasePerson)).all() == []


def test_a_representative_by_phone_from_the_command_line_texts_and_is_texted(
        office: Hub, twilio: FakeTwilio, smtp: SmtpServer,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    case = new_case(office)
    assert hub_run(office, "case", "contact", case.ref, "add", "pat.home@example.net") == 0
    assert hub_run(office, "case", "person", case.ref, "add", "Dana", "Ortiz", "(919) 555-0142",
                   "representative") == 0
    assert f"Dana Ortiz (representative) is on the case: phone {PAT}" in capsys.readouterr().out
    assert hub_run(office, "case", "contact", case.ref, "add", "919-555-0142") == 1
    assert capsys.readouterr().err.strip() == (f"hub: {PAT} is Dana Ortiz's, a person on the case: not the "
                                               "constituent's too (#person remove Dana Ortiz first)")
    view = shown(office, case.ref, capsys)
    assert view["contacts"] == [{"kind": "email", "value": "pat.home@example.net"}]
    assert view["people"] == [{"name": "Dana Ortiz", "role": "representative", "email": None, "phone": PAT}]
    assert hub_run(office, "case", "show", case.ref) == 0
    plain = capsys.readouterr().out
    assert "also: email pat.home@example.net" in plain and f"person: Dana Ortiz (representative) {PAT}" in plain

    text(twilio, office, PAT, "Dana Ortiz here, Pat's representative. Any news?")
    cycle(office)
    assert (last_inbound(office).disposition, last_inbound(office).case_id) == ("case", case.id)
    assert case_of(office, case.ref).contact_channel == "email", "a person's text does not move the constituent's"

    assert hub_run(office, "letter", "preview", "constituent-checkin", "--case", case.ref, "--to",
                   "person:dana ortiz") == 0
    assert capsys.readouterr().out.startswith(f"To: {PAT}\nText:")
    # Queued by the office's own clock (the command line's is the wall clock's), then sent by the next cycle.
    assert letter_send.send(office, "constituent-checkin", case.ref, "person:Dana Ortiz", False)[1] == PAT
    cycle(office)
    assert len(texts_to(twilio, PAT)) == 1 and case.ref in texts_to(twilio, PAT)[0]
    assert "Hi Dana," in texts_to(twilio, PAT)[0], "a text greets its person too, when it is rendered again to go"
    assert hub_run(office, "letter", "send", "constituent-checkin", "--case", case.ref, "--to", "person:Pat") == 1
    assert "its people: Dana Ortiz (representative)" in capsys.readouterr().err

    assert hub_run(office, "case", "person", case.ref, "remove", "Dana", "Ortiz") == 0
    text(twilio, office, PAT, "Hello again?")
    cycle(office)
    assert last_inbound(office).case_id != case.id
    assert shown(office, case.ref, capsys)["people"] == []


def test_a_merge_takes_the_people_to_the_kept_case(office: Hub, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    kept = new_case(office)
    merged = new_case(office, subject="My Medicare card again", body="Writing again about my card.")
    assert hub_run(office, "case", "person", merged.ref, "add", "Sam", "Lee", SPOUSE, "spouse") == 0
    assert hub_run(office, "case", "person", kept.ref, "add", "Sam", "Lee", "919 555 0100", "spouse") == 0
    assert hub_run(office, "case", "person", merged.ref, "add", "Ann", "Lee", "ann@example.net", "child") == 0
    assert hub_run(office, "case", "merge", merged.ref, kept.ref) == 0
    assert "1 people" in capsys.readouterr().out
    assert shown(office, kept.ref, capsys)["people"] == [
        {"name": "Sam Lee", "role": "spouse", "email": SPOUSE, "phone": "+19195550100"},
        {"name": "Ann Lee", "role": "child", "email": "ann@example.net", "phone": None}]
    assert shown(office, merged.ref, capsys)["people"] == []
