"""The letters to an agency tell the truth about the privacy release and carry it: the inquiry encloses
the signed release on file and gives its date, and says the release "will follow" only when none is."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.cases import letter_send
from hub.cli.case_actions import run_action
from hub.core.app import Hub
from hub.core.errors import UserError
from hub.core.file_store import message_raw
from hub.core.models import Message, Outbox
from tests.integration.test_commands import (
    LIAISON,
    MARIA,
    PAT,
    answer,
    arrive,
    cycle,
    from_staff,
    new_case,
    open_office,
)
from tests.servers.smtp import CapturedMessage, SmtpServer

pytestmark = pytest.mark.integration

RELEASE_PDF = b"%PDF-1.4\n% the constituent's signed Privacy Act release\n%%EOF\n"


@pytest.fixture
def office(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Hub]:
    hub = open_office(tmp_path / "office", database_url, smtp)
    yield hub
    hub.close()


def text_of(captured: CapturedMessage) -> str:
    body = captured.message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def enclosed(captured: CapturedMessage) -> list[tuple[str | None, str, bytes]]:
    return [(part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
            for part in captured.message.iter_attachments()]


def test_the_inquiry_encloses_the_release_on_file_and_dates_it(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    new_case(hub)
    (notice,) = smtp.sent_to(MARIA)
    from_staff(hub, answer(notice, MARIA, "#agency ssa\n#send privacy-release-request\n"))
    cycle(hub)
    request = smtp.sent_to(PAT)[-1]
    signed = answer(request, PAT, "Here is the signed form.")
    signed.add_attachment(RELEASE_PDF, maintype="application", subtype="pdf", filename="release-signed.pdf")
    arrive(hub, signed)
    cycle(hub)

    from_staff(hub, answer(notice, MARIA, "#release received 2026-11-20\n#send agency-inquiry\n"))
    cycle(hub)
    (inquiry,) = smtp.sent_to(LIAISON)
    text = " ".join(text_of(inquiry).split())
    assert "will follow" not in text, text
    assert "signed Privacy Act release of November 20, 2026 is attached" in text, text
    assert enclosed(inquiry) == [("release-signed.pdf", "application/pdf", RELEASE_PDF)]

    # The sent copy on the case is the message that went, release included.
    with hub.sessions() as session:
        (row,) = session.scalars(select(Outbox).where(Outbox.letter == "agency-inquiry"))
        sent = session.scalars(select(Message).where(Message.message_id == row.message_id)).one()
        raw = message_raw(session, sent)
        assert sent.case_id is not None and raw is not None
    kept = message_from_bytes(raw, policy=policy.default)
    assert [part.get_payload(decode=True) for part in kept.iter_attachments()] == [RELEASE_PDF]


def test_a_release_recorded_without_its_file_is_named_not_promised(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    ref = new_case(hub).ref
    run_action(hub, ref, "agency", "ssa")
    run_action(hub, ref, "release", "received 2026-11-18")  # on paper, in the district office
    letter_send.send(hub, "agency-inquiry", ref, None, force=False)
    cycle(hub)
    (inquiry,) = smtp.sent_to(LIAISON)
    text = " ".join(text_of(inquiry).split())
    assert "will follow" not in text, text
    assert "signed Privacy Act release of November 18, 2026 is on file with our office" in text, text
    assert enclosed(inquiry) == []


def test_only_an_inquiry_without_a_release_says_it_will_follow(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    ref = new_case(hub).ref
    run_action(hub, ref, "agency", "ssa")
    with pytest.raises(UserError, match="no signed privacy release is on file"):
        letter_send.send(hub, "agency-inquiry", ref, None, force=False)
    letter_send.send(hub, "agency-inquiry", ref, None, force=True)
    cycle(hub)
    (inquiry,) = smtp.sent_to(LIAISON)
    text = " ".join(text_of(inquiry).split())
    assert "The constituent's signed Privacy Act release will follow separately." in text, text
    assert enclosed(inquiry) == []
