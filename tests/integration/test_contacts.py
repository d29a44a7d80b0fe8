"""More than one address and number per constituent, on SQLite and PostgreSQL: `#contact add|remove` by
authenticated staff mail and `hub case contact REF add|remove VALUE`; mail and texts from any listed
contact join the case without triage; the channel follows the constituent (a text moves letters to texts)
and `#channel email|sms` sets it; bad values and impossible channels are one-line refusals."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.cases import letter_send
from hub.cli.main import main as hub_cli
from hub.core.app import Hub
from hub.core.models import Message, PartyContact
from tests.helpers import OFFICE_ADDRESS, STAFF
from tests.integration.test_commands import answer, arrive, case_of, from_staff, mail, new_case, text_of
from tests.integration.test_sms import LEE, PAT, cycle, mail_to, office, text, texts_to, twilio  # noqa: F401
from tests.servers.smtp import SmtpServer
from tests.servers.twilio import FakeTwilio

pytestmark = pytest.mark.integration

HOME = "pat.home@example.net"


def cli(hub: Hub, *words: str) -> int:
    return hub_cli(["--config", str(hub.config.path), "case", *words])


def last_inbound(hub: Hub) -> Message:
    with hub.sessions() as session:
        return session.scalars(select(Message).where(Message.direction == "in").order_by(Message.id.desc())).first()  # type: ignore[return-value]


def checkin(hub: Hub, ref: str) -> None:
    letter_send.send(hub, "constituent-checkin", ref, None, True)
    cycle(hub)


def test_a_second_address_added_by_mail_threads_its_mail_onto_the_case(
        office: Hub, smtp: SmtpServer, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    case = new_case(office)
    (notice,) = mail_to(smtp, STAFF)
    arrive(office, mail(f"Pat <{HOME}>", OFFICE_ADDRESS, f"Re: {case.ref} my card", "From my home address."))
    cycle(office)
    assert (last_inbound(office).disposition, last_inbound(office).reason) == (
        "triage", f"sender is not a party on {case.ref}")

    from_staff(office, answer(notice, STAFF, "#contact add email Pat.Home@Example.NET\n"))
    cycle(office)
    assert "email pat.home@example.net added" in text_of(mail_to(smtp, STAFF)[-1])
    arrive(office, mail(f"Pat <{HOME}>", OFFICE_ADDRESS, f"Re: {case.ref} my card", "Again from home."))
    cycle(office)
    assert (last_inbound(office).disposition, last_inbound(office).case_id) == ("case", case.id)

    from_staff(office, answer(notice, STAFF, "#contact add phone 12\n"))
    cycle(office)
    assert "'12' is not a phone number" in " ".join(text_of(mail_to(smtp, STAFF)[-1]).split())

    assert cli(office, "contact", case.ref, "remove", HOME) == 0
    assert f"{case.ref}: email {HOME} removed" in capsys.readouterr().out
    arrive(office, mail(f"Pat <{HOME}>", OFFICE_ADDRESS, f"Re: {case.ref} my card", "Once more."))
    cycle(office)
    assert last_inbound(office).disposition == "triage"


def test_the_primary_address_is_replaced_by_another_and_the_last_one_stays(
        office: Hub, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    case = new_case(office)
    assert cli(office, "contact", case.ref, "remove", "pat@example.com") == 1
    assert "the constituent's only contact" in capsys.readouterr().err
    assert cli(office, "contact", case.ref, "add", HOME) == 0
    assert cli(office, "contact", case.ref, "remove", "pat@example.com") == 0
    constituent = case_of(office, case.ref).constituent
    assert constituent is not None and constituent.email == HOME
    with office.sessions() as session:
        assert session.scalars(select(PartyContact)).all() == []
    assert cli(office, "contact", case.ref, "add", "not an address") == 1
    assert "'not an address' is not an email address or a phone number" in capsys.readouterr().err


def test_texts_from_added_numbers_join_the_case_and_letters_follow_the_channel(
        office: Hub, twilio: FakeTwilio, smtp: SmtpServer,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    case = new_case(office)
    assert cli(office, "channel", case.ref, "sms") == 1
    assert "the constituent has no phone contact to reach them by sms" in capsys.readouterr().err
    assert cli(office, "contact", case.ref, "add", "(919) 555-0142") == 0
    assert cli(office, "contact", case.ref, "add", "phone", "206.555.0199") == 0
    assert f"{case.ref}: phone {LEE} added" in capsys.readouterr().out
    constituent = case_of(office, case.ref).constituent
    assert constituent is not None and constituent.phone == PAT

    text(twilio, office, LEE, "Any news on my card?")
    cycle(office)
    assert (last_inbound(office).disposition, last_inbound(office).case_id) == ("case", case.id)
    assert case_of(office, case.ref).contact_channel == "sms"
    checkin(office, case.ref)
    assert case.ref in texts_to(twilio, PAT)[-1]
    mailed = len(mail_to(smtp, "pat@example.com"))

    (notice, *_) = mail_to(smtp, STAFF)
    from_staff(office, answer(notice, STAFF, "#channel email\n"))
    cycle(office)
    assert case_of(office, case.ref).contact_channel == "email"
    checkin(office, case.ref)
    assert len(mail_to(smtp, "pat@example.com")) == mailed + 1
    assert len(texts_to(twilio, PAT)) == 1
