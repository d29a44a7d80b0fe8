"""The caseworker sees the constituent's files: a notice attaches the message's files, up to
`[letters] notice_attachment_bytes` in all, and names the rest with their sizes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.core.app import Hub, open_hub
from hub.core.clock import FixedClock
from tests.integration.test_commands import MARIA, PAT, arrive, cycle, mail, open_office
from tests.servers.smtp import CapturedMessage, SmtpServer

pytestmark = pytest.mark.integration

SCAN = b"%PDF-1.4 " + b"s" * 3000
PHOTO = b"\x89PNG\r\n" + b"p" * 9000


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
