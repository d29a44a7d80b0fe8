"""A forged bounce cannot silence a constituent: only a bounce about mail the hub sent marks an address
(SQLite and PostgreSQL), and the letters go out with an envelope sender that names them (VERP)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from hub.core.app import Hub
from hub.core.models import Outbox, Party
from hub.delivery.deliver import deliver_due
from tests.helpers import OFFICE_ADDRESS, email, feed, make_office
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration
PAT = "pat@example.com"


def bounce(failed: str, returned: str = "", to: str = OFFICE_ADDRESS, sender: str = "MAILER-DAEMON@mx.example.com",
           action: str = "failed") -> bytes:
    """A delivery status notification (RFC 3464); `returned` is the returned message's header block."""
    returned_part = f"--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n{returned}\r\n" if returned else ""
    return (f"From: Mail Delivery System <{sender}>\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            f"Message-ID: <dsn-{abs(hash((failed, returned, to)))}@mx.example.com>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n"
            "--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
            "--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
            f"Final-Recipient: rfc822; {failed}\r\nAction: {action}\r\nStatus: 5.1.1\r\n\r\n"
            f"{returned_part}--b1--\r\n").encode()


def open_case(hub: Hub) -> tuple[str, Outbox]:
    outcome = feed(hub, email(sender=f"Pat Example <{PAT}>", subject="My pension is late"))
    assert outcome.case_ref is not None
    with hub.sessions() as session:
        ack = session.scalars(select(Outbox).where(Outbox.letter == "acknowledgement")).one()
    return outcome.case_ref, ack


def bounced_at(hub: Hub, address: str) -> object:
    with hub.sessions() as session:
        return session.scalars(select(Party.bounced_at).where(Party.email == address)).one()


def test_a_forged_bounce_naming_a_constituent_changes_nothing(hub: Hub) -> None:
    ref, _ = open_case(hub)

    outcome = feed(hub, bounce(PAT, returned=f"From: {OFFICE_ADDRESS}\r\nTo: {PAT}\r\nSubject: hello"))

    assert outcome.fate == "triage" and outcome.reason.endswith("not about mail the hub sent, so nothing is marked")
    assert bounced_at(hub, PAT) is None, "the constituent still gets the hub's letters"


def test_a_bounce_returning_our_message_id_marks_the_letter_s_recipient(hub: Hub) -> None:
    ref, ack = open_case(hub)

    outcome = feed(hub, bounce(PAT, returned=f"From: {OFFICE_ADDRESS}\r\nTo: {PAT}\r\nMessage-ID: {ack.message_id}"))

    assert (outcome.fate, outcome.case_ref) == ("case", ref)
    assert bounced_at(hub, PAT) is not None


def test_a_bounce_with_the_case_reference_in_the_returned_subject_marks_an_address_we_wrote_to(hub: Hub) -> None:
    ref, _ = open_case(hub)

    outcome = feed(hub, bounce(PAT, returned=f"From: {OFFICE_ADDRESS}\r\nTo: {PAT}\r\n"
                                             f"Subject: [{ref}] We received your message"))

    assert (outcome.fate, outcome.case_ref) == ("case", ref)
    assert bounced_at(hub, PAT) is not None


def test_a_bounce_to_a_letter_s_envelope_sender_threads_and_marks_it_without_returned_headers(hub: Hub) -> None:
    ref, ack = open_case(hub)
    verp = hub.refs.bounce_address(OFFICE_ADDRESS, ack.id)

    outcome = feed(hub, bounce("someone-else@example.org", to=verp))

    assert (outcome.fate, outcome.case_ref) == ("case", ref)
    assert bounced_at(hub, PAT) is not None, "the letter went to Pat, whatever address the notice names"


def test_a_bounce_to_a_forged_envelope_sender_changes_nothing(hub: Hub) -> None:
    ref, ack = open_case(hub)
    forged = hub.refs.bounce_address(OFFICE_ADDRESS, ack.id).replace(".", ".x", 1)[:-len("@doe.example.gov") - 1]

    outcome = feed(hub, bounce(PAT, to=forged + "@doe.example.gov"))

    assert outcome.fate == "triage"
    assert bounced_at(hub, PAT) is None


def test_letters_go_out_with_an_envelope_sender_naming_their_row(tmp_path: Path, database_url: str,
                                                                 smtp: SmtpServer) -> None:
    hub = make_office(tmp_path / "office", database_url, outbound_url=smtp.url())
    try:
        ref, ack = open_case(hub)
        deliver_due(hub)
        [sent] = smtp.sent_to(PAT)
        assert sent.mail_from == hub.refs.bounce_address(OFFICE_ADDRESS, ack.id)
        assert hub.refs.outbox_id_in(sent.mail_from) == ack.id
        assert str(sent.message["Reply-To"]) == hub.refs.plus_address(OFFICE_ADDRESS, hub.refs.parse(ref))  # type: ignore[arg-type]
    finally:
        hub.close()
