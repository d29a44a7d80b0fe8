"""The SMS line end to end: the real `twilio` client against a local Twilio-like server, the caseworker's
side over a real SMTP server (aiosmtpd), on SQLite and PostgreSQL.

A constituent texts the office and gets the SMS acknowledgement; the caseworker answers from mail and
the answer goes back as a text; the constituent's next text lands on the same case; HELP answers;
STOP silences every later text, scheduled ones included, and START allows them again; a check-in due
at 3 a.m. waits for the morning; photos arrive as attachments; the carrier's opt-out (21610) is
recorded; an unreachable Twilio holds up neither the mail nor the outbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.cases import letter_send
from hub.core.app import Hub
from hub.core.clock import FixedClock
from hub.core.errors import UserError
from hub.core.file_store import attachment_bytes
from hub.core.models import Attachment, Case, Event, Message, Outbox, SmsOptOut
from hub.delivery.twilio import READ_ATTEMPTS
from hub.letters.outbox import AUTO_GENERATED, enqueue
from hub.letters.sms_text import segments
from hub.run.cycle import Cycle, run_once
from hub.run.status import status_lines
from tests.helpers import STAFF, make_office
from tests.integration.test_commands import answer, from_staff
from tests.servers.smtp import CapturedMessage, SmtpServer
from tests.servers.twilio import FakeTwilio, running_twilio

pytestmark = pytest.mark.integration

PAT = "+19195550142"       # a Durham, NC number: Eastern time, like the office
LEE = "+12065550199"       # a Seattle number: Pacific time
OFFICE_NUMBER = "+15555550100"
TOKEN_ENV = "HUB_TEST_TWILIO_TOKEN"
STEP = timedelta(minutes=11)  # past the automatic-mail caps' window between cycles
NIGHT = datetime.fromisoformat("2026-11-23T21:00:00-05:00")    # the evening after START, in Durham
MORNING = datetime.fromisoformat("2026-11-24T10:00:00-05:00")
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with running_twilio(number=OFFICE_NUMBER) as server:
        yield server


@pytest.fixture
def office(tmp_path: Path, database_url: str, smtp: SmtpServer, twilio: FakeTwilio,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    monkeypatch.setenv(TOKEN_ENV, twilio.auth_token)
    hub = make_office(tmp_path / "office", database_url, outbound_url=smtp.url(), sms={
        "account_sid": twilio.account_sid, "number": OFFICE_NUMBER, "auth_token_env": TOKEN_ENV,
        "api_base": twilio.api_base})
    yield hub
    hub.close()


def text(twilio: FakeTwilio, hub: Hub, sender: str, body: str, media: tuple[tuple[str, bytes], ...] = ()) -> str:
    """The constituent texts the office, now by the hub's clock."""
    return twilio.text_office(sender, body, media=media, date_sent=hub.clock.now())


def cycle(hub: Hub, step: timedelta = STEP) -> Cycle:
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.advance(step)
    return run_once(hub)


def texts_to(twilio: FakeTwilio, number: str) -> list[str]:
    return [str(message["body"]) for message in twilio.sent(number)]


def mail_to(smtp: SmtpServer, address: str) -> list[CapturedMessage]:
    return [message for message in smtp.messages if address in message.rcpt_tos]


def the_case(hub: Hub) -> Case:
    with hub.sessions() as session:
        return session.scalars(select(Case)).one()


def inbound(hub: Hub) -> list[Message]:
    with hub.sessions() as session:
        return list(session.scalars(select(Message).where(Message.direction == "in").order_by(Message.id)))


def at(hub: Hub, moment: datetime) -> None:
    clock = hub.clock
    assert isinstance(clock, FixedClock) and moment >= clock.now()
    clock.advance(moment - clock.now())


def test_a_constituent_texts_and_the_caseworker_answers_from_mail(office: Hub, twilio: FakeTwilio,
                                                                  smtp: SmtpServer) -> None:
    text(twilio, office, PAT, "Hi, my passport renewal has not come and I fly to Lima on Dec 20. Can you help?")
    cycle(office)

    case = the_case(office)
    assert case.contact_channel == "sms" and case.constituent is not None and case.constituent.phone == PAT
    (acknowledgement,) = texts_to(twilio, PAT)
    assert case.ref in acknowledgement and "STOP" in acknowledgement
    assert segments(acknowledgement).count <= 3 and segments(acknowledgement).encoding == "GSM-7"
    (notice,) = mail_to(smtp, STAFF)  # the first caseworker takes unassigned notices
    assert "Lima" in notice.message.get_body().get_content()  # type: ignore[union-attr]

    from_staff(office, answer(notice, STAFF, "Hello Pat, we have asked the State Department’s liaison to "
                                             "expedite it and will text you when we hear back."))
    cycle(office)
    reply = texts_to(twilio, PAT)[-1]
    assert reply.startswith("Hello Pat, we have asked the State Department's liaison")  # curly quote made plain
    assert reply.endswith("- Maria, Office of Representative Jane Doe")
    assert len(texts_to(twilio, PAT)) == 2

    text(twilio, office, PAT, "Thank you so much!")
    cycle(office)
    messages = inbound(office)
    assert [m.body for m in messages][-1] == "Thank you so much!"
    assert {m.case_id for m in messages} == {case.id} and messages[-1].kind == "constituent"
    assert "Thank you so much!" in mail_to(smtp, STAFF)[-1].message.get_body().get_content()  # type: ignore[union-attr]
    assert len(texts_to(twilio, PAT)) == 2  # a reply is not acknowledged again


def test_help_answers_with_the_offices_details_and_opens_nothing(office: Hub, twilio: FakeTwilio,
                                                                 smtp: SmtpServer) -> None:
    text(twilio, office, LEE, "help")
    cycle(office)
    (answer_text,) = texts_to(twilio, LEE)
    assert "(202) 555-0100" in answer_text and "Office of Representative Jane Doe" in answer_text
    with office.sessions() as session:
        assert session.scalars(select(Case)).first() is None
    (message,) = inbound(office)
    assert message.disposition == "triage" and "HELP" in message.reason
    assert smtp.messages == []  # nobody is bothered by a HELP


def test_stop_silences_every_later_text_and_start_allows_them_again(office: Hub, twilio: FakeTwilio,
                                                                    smtp: SmtpServer) -> None:
    text(twilio, office, PAT, "My Medicare card has the wrong name on it.")
    cycle(office)
    case = the_case(office)
    # A check-in is waiting when the constituent says STOP.
    letter_send.send(office, "constituent-checkin", case.ref, None, False)
    at(office, NIGHT)  # night in Durham: the check-in waits
    cycle(office, timedelta(0))
    text(twilio, office, PAT, "STOP")
    cycle(office)
    assert len(texts_to(twilio, PAT)) == 1  # only the acknowledgement ever went
    with office.sessions() as session:
        assert session.scalars(select(SmsOptOut.number)).all() == [PAT]
        waiting = session.scalars(select(Outbox).where(Outbox.letter == "constituent-checkin")).one()
        assert waiting.state == "cancelled" and "opted out" in waiting.error
    notice = mail_to(smtp, STAFF)[-1].message.get_body().get_content()  # type: ignore[union-attr]
    assert "texted STOP" in notice and "no email address" in notice

    # Later: the caseworker's answer is refused at once, with the reason; a scheduled text is held back.
    from_staff(office, answer(mail_to(smtp, STAFF)[-1], STAFF, "Pat, the card is on its way."))
    with pytest.raises(UserError, match="opted out of texts"):
        letter_send.send(office, "constituent-update", case.ref, None, True)
    with office.sessions.begin() as session:  # what the scheduler queues for a case that talks by text
        enqueue(session.connection(), case_id=case.id, case_ref=case.ref, letter="constituent-checkin",
                recipient=PAT, channel="sms", refs=office.refs, domain=office.config.office.domain,
                now=office.clock.now(), automatic=AUTO_GENERATED)
    at(office, MORNING)
    cycle(office)
    assert len(texts_to(twilio, PAT)) == 1
    refusal = mail_to(smtp, STAFF)[-1].message.get_body().get_content()  # type: ignore[union-attr]
    assert "Nothing was applied or sent" in refusal and "opted out of texts" in refusal
    with office.sessions() as session:
        assert session.scalars(select(Outbox).where(Outbox.letter == "relay")).first() is None
        held = session.scalars(select(Outbox).where(Outbox.channel == "sms", Outbox.state == "suppressed")).one()
        assert held.letter == "constituent-checkin" and "texted STOP" in held.error

    text(twilio, office, PAT, "START")
    cycle(office)
    with office.sessions() as session:
        assert session.scalars(select(SmsOptOut)).all() == []
    letter_send.send(office, "constituent-update", case.ref, None, True)
    cycle(office)
    assert len(texts_to(twilio, PAT)) == 2 and case.ref in texts_to(twilio, PAT)[-1]


def test_stop_moves_waiting_texts_to_email_when_there_is_an_address(office: Hub, twilio: FakeTwilio,
                                                                    smtp: SmtpServer) -> None:
    text(twilio, office, PAT, "My VA pension payment is late.")
    cycle(office)
    case = the_case(office)
    with office.sessions.begin() as session:
        session.get_one(Case, case.id).constituent.email = "pat@example.com"  # type: ignore[union-attr]
    at(office, NIGHT)
    letter_send.send(office, "constituent-checkin", case.ref, None, False)
    cycle(office, timedelta(0))
    text(twilio, office, PAT, "Stop")
    cycle(office)
    assert the_case(office).contact_channel == "email"
    at(office, MORNING)
    cycle(office)
    (checkin,) = mail_to(smtp, "pat@example.com")
    assert case.ref in str(checkin.message["Subject"])
    assert len(texts_to(twilio, PAT)) == 1


def test_a_3am_check_in_waits_for_the_morning_in_the_constituents_time_zone(office: Hub,
                                                                             twilio: FakeTwilio) -> None:
    text(twilio, office, LEE, "Still waiting on my tax refund from last year.")
    cycle(office)
    case = the_case(office)
    three_am_seattle = datetime.fromisoformat("2026-11-24T03:00:00-08:00")
    at(office, three_am_seattle)
    letter_send.send(office, "constituent-checkin", case.ref, None, False)
    cycle(office, timedelta(0))
    assert len(texts_to(twilio, LEE)) == 1  # the acknowledgement only
    with office.sessions() as session:
        row = session.scalars(select(Outbox).where(Outbox.letter == "constituent-checkin")).one()
        assert row.state == "pending"
        # 09:00 in Seattle, though it is already noon at the office in New York.
        assert row.not_before == datetime.fromisoformat("2026-11-24T09:00:00-08:00")
    at(office, datetime.fromisoformat("2026-11-24T08:59:00-08:00"))
    cycle(office, timedelta(0))
    assert len(texts_to(twilio, LEE)) == 1
    at(office, datetime.fromisoformat("2026-11-24T09:00:00-08:00"))
    cycle(office, timedelta(0))
    assert len(texts_to(twilio, LEE)) == 2 and case.ref in texts_to(twilio, LEE)[-1]


def test_the_acknowledgement_of_a_text_at_night_goes_at_once(office: Hub, twilio: FakeTwilio) -> None:
    at(office, datetime.fromisoformat("2026-11-24T02:30:00-05:00"))
    text(twilio, office, PAT, "My mother died abroad and we need help bringing her home.")
    cycle(office, timedelta(0))
    assert len(texts_to(twilio, PAT)) == 1
    assert "urgent" in the_case(office).labels


def test_a_photo_arrives_as_an_attachment(office: Hub, twilio: FakeTwilio) -> None:
    text(twilio, office, PAT, "Here is the letter they sent me", media=(("image/png", PHOTO),))
    cycle(office)
    with office.sessions() as session:
        (attachment,) = session.scalars(select(Attachment)).all()
        assert attachment_bytes(session, attachment) == PHOTO and attachment.content_type == "image/png"
        assert attachment.message.case_id == the_case(office).id


def test_several_open_cases_the_text_goes_to_the_most_recent_and_the_notice_names_the_others(
        office: Hub, twilio: FakeTwilio, smtp: SmtpServer) -> None:
    text(twilio, office, PAT, "My Social Security check is late.")
    cycle(office)
    first = the_case(office)
    with office.sessions.begin() as session:  # a second case for the same person, opened later
        session.add(Case(ref="CW-26-09999-ZZ", status="open", labels=[], subject="Passport",
                         constituent_id=first.constituent_id, opened_at=office.clock.now(),
                         updated_at=office.clock.now() + timedelta(minutes=1), contact_channel="sms"))
    text(twilio, office, PAT, "Any news?")
    cycle(office)
    last = inbound(office)[-1]
    with office.sessions() as session:
        assert session.get_one(Case, last.case_id).ref == "CW-26-09999-ZZ"  # type: ignore[arg-type]
    notice = mail_to(smtp, STAFF)[-1].message.get_body().get_content()  # type: ignore[union-attr]
    assert first.ref in notice and "most recent of 2 open cases" in notice


def test_a_text_with_the_reference_reaches_that_case(office: Hub, twilio: FakeTwilio) -> None:
    text(twilio, office, PAT, "My Social Security check is late.")
    cycle(office)
    first = the_case(office)
    with office.sessions.begin() as session:
        session.add(Case(ref="CW-26-09999-ZZ", status="open", labels=[], subject="Passport",
                         constituent_id=first.constituent_id, opened_at=office.clock.now(),
                         updated_at=office.clock.now() + timedelta(minutes=1), contact_channel="sms"))
    text(twilio, office, PAT, f"About {first.ref.lower()}: did they answer?")
    cycle(office)
    assert inbound(office)[-1].case_id == first.id


def test_the_carriers_opt_out_is_recorded_and_the_caseworker_told(office: Hub, twilio: FakeTwilio,
                                                                  smtp: SmtpServer) -> None:
    twilio.carrier_opted_out.add(PAT)
    text(twilio, office, PAT, "I need help with my passport.")
    cycle(office)
    with office.sessions() as session:
        row = session.scalars(select(Outbox).where(Outbox.letter == "acknowledgement")).one()
        assert row.state == "failed" and "21610" in row.error
        (opted,) = session.scalars(select(SmsOptOut)).all()
        assert opted.number == PAT and opted.via == "carrier"
    cycle(office)
    assert any("21610" in (m.message.get_body().get_content())  # type: ignore[union-attr]
               for m in mail_to(smtp, STAFF))


def test_twilio_down_holds_up_neither_mail_nor_the_outbox_and_the_texts_come_later(
        office: Hub, twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hub.delivery.twilio.time.sleep", lambda seconds: None)
    text(twilio, office, PAT, "Is anyone there?")
    twilio.fail_next(503, times=READ_ATTEMPTS)  # every attempt of this cycle's poll
    lines: list[str] = []
    run_once(office, lines.append)
    assert lines[0].startswith("sms: Twilio") and "temporary" in lines[0]
    assert lines[1:] == ["0 messages: nothing new", "outbox: nothing due"]
    assert inbound(office) == []
    assert any(line.startswith(f"source sms:{OFFICE_NUMBER}") and "last error" in line
               for line in status_lines(office))
    cycle(office)
    assert len(inbound(office)) == 1 and len(texts_to(twilio, PAT)) == 1


def test_a_short_code_never_gets_an_answer(office: Hub, twilio: FakeTwilio) -> None:
    twilio.text_office("+15555550100", "loop?", date_sent=office.clock.now())
    text(twilio, office, "+1888", "Your code is 123456")
    cycle(office)
    assert twilio.sent() == []
    with office.sessions() as session:
        assert session.scalars(select(Case)).first() is None
        assert session.scalars(select(Event).where(Event.kind == "case-opened")).first() is None


def test_a_long_answer_is_cut_to_the_segment_limit_and_the_caseworker_told_what_was_left_out(
        office: Hub, twilio: FakeTwilio, smtp: SmtpServer) -> None:
    text(twilio, office, PAT, "Where is my tax refund?")
    cycle(office)
    sentences = [f"Point {n}: the IRS liaison says the refund is in review step {n}." for n in range(1, 13)]
    from_staff(office, answer(mail_to(smtp, STAFF)[-1], STAFF, " ".join(sentences)))
    cycle(office)
    sent = texts_to(twilio, PAT)[-1]
    size = segments(sent)
    assert size.count == 3 and size.encoding == "GSM-7"
    assert sent.startswith("Point 1:") and "...\n- Maria, Office of Representative Jane Doe" in sent
    confirmation = mail_to(smtp, STAFF)[-1]
    body = confirmation.message.get_body().get_content()  # type: ignore[union-attr]
    assert "shortened" in str(confirmation.message["Subject"])
    assert "Point 12: the IRS liaison says the refund is in review step 12." in body
    assert "Point 12" not in sent
