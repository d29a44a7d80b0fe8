"""The caseworker sees the constituent's files: a notice attaches the message's files, up to
`[letters] notice_attachment_bytes` in all, and names the rest with their sizes; a signature's picture, which the
sender's every message shows, only the first time; the files inside Outlook's winmail.dat by their own names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from html import escape
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.core.app import Hub, open_hub
from hub.core.clock import FixedClock
from hub.core.file_store import message_raw
from hub.core.models import Attachment, Message
from tests.integration.test_commands import MARIA, PAT, arrive, cycle, mail, open_office
from tests.servers.smtp import CapturedMessage, SmtpServer
from tests.unit.intake.test_real_mail import winmail

pytestmark = pytest.mark.integration

SCAN = b"%PDF-1.4 " + b"s" * 3000
PHOTO = b"\x89PNG\r\n" + b"p" * 9000
LOGO = b"\x89PNG\r\n\x1a\n a signature's logo " + b"l" * 600


def office_with_file_budget(folder: Path, database_url: str, smtp: SmtpServer, budget: int) -> Hub:
    """The office of tests.integration.test_commands, its messages' files limited to `budget` bytes in all
    (the shipped `[letters] notice_attachment_bytes` set)."""
    hub = open_office(folder, database_url, smtp)
    config = hub.config.path
    hub.close()
    config.write_text(re.sub(r"(?m)^notice_attachment_bytes = \d+$", f"notice_attachment_bytes = {budget}",
                             config.read_text(), count=1))
    return open_hub(config, FixedClock(hub.clock.now()))


@pytest.fixture
def office(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Hub]:
    hub = office_with_file_budget(tmp_path / "office", database_url, smtp, 5000)
    yield hub
    hub.close()


def as_outlook_writes_it(message: EmailMessage, pictures: list[tuple[str, bytes]]) -> EmailMessage:
    """The text in HTML too, showing `pictures` inside it as Outlook shows a signature's logo or a pasted
    picture: multipart/related around the text's two renderings, each picture inline with its Content-ID."""
    cids = [f"{name}@01DB47A2.6C1E5F30" for name, _ in pictures]
    shown = "".join(f'<img src="cid:{cid}">' for cid in cids)
    html = f"<html><body><p>{escape(str(message.get_content()))}</p>{shown}</body></html>"
    message.make_related()
    message.get_payload()[0].add_alternative(html, subtype="html")
    for cid, (name, data) in zip(cids, pictures, strict=True):
        message.add_related(data, "image", "png", cid=f"<{cid}>", filename=name, disposition="inline")
    return message


def files_of(captured: CapturedMessage) -> list[tuple[str | None, bytes]]:
    return [(part.get_filename(), part.get_payload(decode=True)) for part in captured.message.iter_attachments()]


def test_a_notice_attaches_the_constituents_files_within_the_limit_and_names_the_rest(
        office: Hub, smtp: SmtpServer) -> None:
    message = mail(f"Pat Example <{PAT}>", "casework@doe.example.gov", "My pension", "Attached are my papers.")
    message.add_attachment(SCAN, maintype="application", subtype="pdf", filename="release-signed.pdf")
    message.add_attachment(PHOTO, maintype="image", subtype="png", filename="award-letter.png")
    arrive(office, message)
    cycle(office)
    (notice,) = smtp.sent_to(MARIA)
    assert files_of(notice) == [("release-signed.pdf", SCAN)], "the first file fits in 5,000 bytes, not both"
    body = notice.message.get_body(("plain",))
    assert body is not None
    text = " ".join(str(body.get_content()).split())
    assert "release-signed.pdf (PDF, 2.9 KB) attached" in text, text
    assert "award-letter.png (PNG image, 8.8 KB) not attached: too large for a notice" in text, text
    assert "hub case files" in text


def test_a_notice_leaves_out_the_signature_picture_the_senders_every_message_shows(office: Hub,
                                                                                   smtp: SmtpServer) -> None:
    for subject, papers in (("My pension", [("release-signed.pdf", SCAN)]), ("Re: My pension", [])):
        message = as_outlook_writes_it(mail(f"Pat Example <{PAT}>", "casework@doe.example.gov", subject,
                                            "Here you are.\n\nPat Example\nRetired teacher"), [("image001.png", LOGO)])
        for name, data in papers:
            message.add_attachment(data, maintype="application", subtype="pdf", filename=name)
        arrive(office, message)
        cycle(office)
    first, second = smtp.sent_to(MARIA)
    assert files_of(first) == [("image001.png", LOGO), ("release-signed.pdf", SCAN)], "the first time, it may be pasted"
    assert files_of(second) == []
    assert "image001.png" not in str(second.message.get_body(("plain",))), "nor named"
    with office.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Attachment).where(Attachment.inline)) == 2, \
            "both kept on the case"


def test_a_notice_attaches_the_files_inside_outlooks_winmail_dat(office: Hub, smtp: SmtpServer) -> None:
    message = mail(f"Pat Example <{PAT}>", "casework@doe.example.gov", "My pension", "The letter is attached.")
    message.add_attachment(winmail((b"Award letter.pdf", SCAN)), maintype="application", subtype="ms-tnef",
                           filename="winmail.dat")
    raw = message.as_bytes()
    arrive(office, raw)
    cycle(office)
    (notice,) = smtp.sent_to(MARIA)
    assert files_of(notice) == [("Award letter.pdf", SCAN)]
    with office.sessions() as session:
        (kept,) = session.scalars(select(Message).where(Message.direction == "in"))
        assert message_raw(session, kept) == raw, "the message kept as it came"
