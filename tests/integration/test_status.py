"""STATUS (ESTADO) end to end: texts through the real `twilio` client against the local Twilio-like server,
mail through the office's inbox on a private Dovecot and out through aiosmtpd; on SQLite and PostgreSQL.

The constituent asks and gets their case's step and next date at once, on their own number or address; several
open cases make a numbered list; no open case, a short answer and no new case; ESTADO answers in Spanish; a
stranger learns nothing of anybody's case; an auto-reply titled "status" is not answered; one answer an hour.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from hub.cases import letter_send
from hub.core.app import Hub
from hub.core.clock import FixedClock
from hub.core.errors import UserError
from hub.core.models import Case, CasePerson, Event, Message, Reminder
from hub.letters.sms_text import segments
from tests.helpers import OFFICE_ADDRESS, STAFF
from tests.integration.test_commands import (
    LIAISON,
    MARIA,
    PAT,
    answer,
    arrive,
    from_staff,
    mail,
    new_case,
    open_office,
    subject,
    text_of,
)
from tests.integration.test_commands import cycle as mail_cycle
from tests.integration.test_sms import LEE, cycle, mail_to, office, text, texts_to, twilio  # noqa: F401
from tests.integration.test_sms import PAT as PAT_NUMBER
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer
from tests.servers.twilio import FakeTwilio

pytestmark = pytest.mark.integration

STRANGER = "someone@example.org"


@pytest.fixture
def mail_office(tmp_path: Path, database_url: str, dovecot: DovecotServer, smtp: SmtpServer,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    """The office reading its inbox from the private Dovecot and sending through aiosmtpd, with SSA and VA."""
    monkeypatch.setenv("HUB_INBOX_PASSWORD", dovecot.password)
    hub = open_office(tmp_path / "office", database_url, smtp, inbox_url=dovecot.imap_url())
    yield hub
    hub.close()


def cases(hub: Hub) -> list[Case]:
    with hub.sessions() as session:
        return list(session.scalars(select(Case).order_by(Case.id)))


def status_events(hub: Hub) -> list[Event]:
    with hub.sessions() as session:
        return list(session.scalars(select(Event).where(Event.kind.startswith("status-")).order_by(Event.id)))


def checkin_day(hub: Hub, case: Case) -> str:
    """The day the case's check-in falls due, as the answer writes it ("December 7")."""
    with hub.sessions() as session:
        due = session.scalars(select(Reminder.due_at).where(Reminder.case_id == case.id,
                                                            Reminder.kind == "checkin")).one()
    return spoken(hub, due)


def spoken(hub: Hub, moment: datetime) -> str:
    local = moment.astimezone(ZoneInfo(hub.config.office.timezone))
    return f"{local:%B} {local.day}"


def texted_case(hub: Hub, line: FakeTwilio, body: str = "My Social Security check is late.") -> Case:
    """Pat texts the office; returns the case it opened (acknowledged, the caseworker told)."""
    text(line, hub, PAT_NUMBER, body)
    cycle(hub)
    (case,) = cases(hub)
    return case


def second_case(hub: Hub, first: Case, ref: str = "CW-26-09999-ZZ") -> None:
    """Another open case of the same constituent, more recent."""
    with hub.sessions.begin() as session:
        session.add(Case(ref=ref, status="open", labels=[], subject="Passport", constituent_id=first.constituent_id,
                         opened_at=hub.clock.now(), updated_at=hub.clock.now() + timedelta(minutes=1),
                         contact_channel="sms"))


# ---------------------------------------------------------------------------------------------------
# By text


def test_status_by_text_answers_with_the_step_and_the_next_date_and_opens_nothing(
        office: Hub, twilio: FakeTwilio, smtp: SmtpServer) -> None:  # noqa: F811
    hub = office
    case = texted_case(hub, twilio, "My SSN is 123-45-6789 and my disability check stopped in September.")
    notices = len(mail_to(smtp, STAFF))

    text(twilio, hub, PAT_NUMBER, "Status")
    cycle(hub)
    answer_text = texts_to(twilio, PAT_NUMBER)[-1]
    assert answer_text == (f"Office of Representative Jane Doe: your case {case.ref}: we are looking into it. "
                           f"We will write to you by {checkin_day(hub, case)}.")
    assert segments(answer_text).count == 1
    with hub.sessions.begin() as session:  # the caseworker asked the constituent something
        session.get_one(Case, case.id).status = "pending-constituent"

    cycle(hub, timedelta(hours=1))
    text(twilio, hub, PAT_NUMBER, "status?")
    cycle(hub)
    assert texts_to(twilio, PAT_NUMBER)[-1] == (
        f"Office of Representative Jane Doe: your case {case.ref}: we are waiting for your answer to our last "
        f"message. We will write to you by {checkin_day(hub, case)}.")
    assert "6789" not in answer_text and "disability" not in answer_text  # nothing the constituent wrote
    assert len(cases(hub)) == 1 and len(mail_to(smtp, STAFF)) == notices, "no new case, nobody bothered"
    with hub.sessions() as session:
        asked = session.scalars(select(Message).order_by(Message.id.desc())).first()
        assert asked is not None and (asked.case_id, asked.disposition) == (case.id, "case")
        assert session.get_one(Case, case.id).status == "pending-constituent", "asking is no answer"
    assert [(e.case_id, e.kind, e.via) for e in status_events(hub)] == [(case.id, "status-answered", "sms")] * 2


def test_several_open_cases_get_a_numbered_list_and_estado_answers_in_spanish(
        office: Hub, twilio: FakeTwilio) -> None:  # noqa: F811
    hub = office
    first = texted_case(hub, twilio)
    second_case(hub, first)

    text(twilio, hub, PAT_NUMBER, "STATUS")
    cycle(hub)
    lines = texts_to(twilio, PAT_NUMBER)[-1].splitlines()
    assert lines[0] == "Office of Representative Jane Doe: your open cases:"
    assert lines[1].startswith("1. CW-26-09999-ZZ: we are looking into it")  # the most recent first
    assert lines[2] == f"2. {first.ref}: we are looking into it; we will write by {checkin_day(hub, first)}."
    assert {e.case_id for e in status_events(hub)} == {case.id for case in cases(hub)}, "an event on each"

    cycle(hub, timedelta(hours=1))
    text(twilio, hub, PAT_NUMBER, "estado")
    cycle(hub)
    spanish = texts_to(twilio, PAT_NUMBER)[-1]
    assert spanish.startswith("Office of Representative Jane Doe: sus casos abiertos:\n1. CW-26-09999-ZZ: lo estamos "
                              "revisando")
    day = checkin_day(hub, first).split()
    months = {"November": "noviembre", "December": "diciembre", "January": "enero"}
    assert f"le escribiremos antes del {day[1]} de {months[day[0]]}." in spanish
    assert segments(spanish).encoding == "GSM-7"


def test_a_number_that_is_not_a_constituents_gets_a_short_answer_and_no_case(
        office: Hub, twilio: FakeTwilio, smtp: SmtpServer) -> None:  # noqa: F811
    hub = office
    case = texted_case(hub, twilio)
    with hub.sessions.begin() as session:  # on the case, but not its constituent: told nothing of it either
        session.add(CasePerson(case_id=case.id, name="Lee Example", role="spouse", phone=LEE,
                               created_at=hub.clock.now()))

    text(twilio, hub, LEE, "status")
    cycle(hub)
    (reply,) = texts_to(twilio, LEE)
    assert reply == ("Office of Representative Jane Doe: we have no open case for this number. To ask for help, "
                     "text us here or call (202) 555-0100.")
    assert case.ref not in reply
    assert len(cases(hub)) == 1 and smtp.sent_to(STAFF)[1:] == []
    with hub.sessions() as session:
        asked = session.scalars(select(Message).where(Message.sender == LEE)).one()
        assert (asked.case_id, asked.disposition) == (None, "triage")


def test_the_answer_is_never_sent_by_hand(office: Hub, twilio: FakeTwilio) -> None:  # noqa: F811
    case = texted_case(office, twilio)
    with pytest.raises(UserError, match="case-status is the answer to a constituent's STATUS"):
        letter_send.send(office, "case-status", case.ref, None, True)


def test_status_is_answered_once_an_hour(office: Hub, twilio: FakeTwilio) -> None:  # noqa: F811
    hub = office
    texted_case(hub, twilio)
    for _ in range(3):
        text(twilio, hub, PAT_NUMBER, "STATUS")
        cycle(hub)
    assert len(texts_to(twilio, PAT_NUMBER)) == 2, "the acknowledgement and one answer"
    assert [e.kind for e in status_events(hub)] == ["status-answered", "status-not-answered", "status-not-answered"]
    cycle(hub, timedelta(hours=1))
    text(twilio, hub, PAT_NUMBER, "STATUS")
    cycle(hub)
    assert len(texts_to(twilio, PAT_NUMBER)) == 3, "an hour later, answered again"


# ---------------------------------------------------------------------------------------------------
# By mail


def test_status_by_mail_goes_to_the_constituents_address_with_the_agency_step(
        mail_office: Hub, smtp: SmtpServer) -> None:
    hub = mail_office
    case = new_case(hub, body="My SSN is 123-45-6789. My Medicare card has the wrong name.")
    (notice,) = smtp.sent_to(MARIA)
    from_staff(hub, answer(notice, MARIA, "#agency ssa\n#release received 2026-11-20\n#send agency-inquiry\n"))
    mail_cycle(hub)
    assert len(smtp.sent_to(LIAISON)) == 1
    before = len(smtp.messages)

    arrive(hub, mail(f"Pat Example <{PAT}>", OFFICE_ADDRESS, "status", ""))
    mail_cycle(hub)
    (status,) = smtp.messages[before:]
    assert list(status.rcpt_tos) == [PAT] and subject(status) == f"[{case.ref}] The status of your case"
    body = " ".join(text_of(status).split())
    ssa = hub.config.agency("ssa")
    assert ssa is not None
    assert (f"We asked Social Security Administration on {spoken(hub, hub.clock.now())}; they usually answer within "
            f"{ssa.response_days} {'business ' if ssa.business_days else ''}days.") in body
    assert "We will write to you by" in body
    for private in ("6789", "Medicare", "release"):
        assert private not in body
    assert len(cases(hub)) == 1

    # In Spanish, an hour later.
    mail_cycle(hub)
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(hours=1))
    arrive(hub, mail(PAT, OFFICE_ADDRESS, "Estado", "Me mudé: mi nueva dirección es 12 Elm St."))
    mail_cycle(hub)
    (spanish,) = smtp.sent_to(PAT)[-1:]
    assert subject(spanish) == f"[{case.ref}] El estado de su caso"
    (notice,) = smtp.sent_to(MARIA)[-1:]  # what she wrote besides is not lost
    assert notice not in smtp.messages[:before + 1] and "12 Elm St." in text_of(notice)
    assert len(smtp.messages) == before + 3, "the two answers and the notice"
    assert "Le preguntamos a Social Security Administration el" in " ".join(text_of(spanish).split())


def test_a_stranger_and_an_auto_reply_get_nothing_by_mail(mail_office: Hub, smtp: SmtpServer) -> None:
    hub = mail_office
    case = new_case(hub)
    before = len(smtp.messages)

    arrive(hub, mail(STRANGER, OFFICE_ADDRESS, "status", f"About {case.ref}, please."))
    robot = mail(f"Pat Example <{PAT}>", OFFICE_ADDRESS, "status", "I am out of the office.")
    robot["Auto-Submitted"] = "auto-replied"
    arrive(hub, robot)
    mail_cycle(hub)
    assert smtp.messages[before:] == [], "no answer, and nobody told"
    assert len(cases(hub)) == 1 and status_events(hub) == []
    with hub.sessions() as session:
        stranger = session.scalars(select(Message).where(Message.sender == STRANGER)).one()
        assert (stranger.case_id, stranger.disposition) == (None, "triage")
        auto = session.scalars(select(Message).where(Message.kind == "auto-reply")).one()
        assert auto.sender == PAT
