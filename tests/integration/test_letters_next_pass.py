"""An office's edit to a letter goes out from the next delivery pass: each pass reads the letters folder again
(hub.letters.templates.Letters reads each letter once a pass)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.core.app import Hub
from hub.delivery.deliver import deliver_due
from tests.helpers import email, feed, make_office
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration


def acknowledgement_subject(hub: Hub, smtp: SmtpServer, person: str) -> str:
    """Deliver what is due; the subject of the acknowledgement `person` was sent in this pass."""
    feed(hub, email(sender=f"{person.title()} <{person}@example.com>", message_id=f"<{person}@example.com>"))
    before = len(smtp.messages)
    deliver_due(hub)
    [subject] = [str(m.message["Subject"]) for m in smtp.messages[before:] if m.rcpt_tos == (f"{person}@example.com",)]
    return subject.split("] ", 1)[1]  # after the case's reference


def test_an_edited_letter_goes_out_from_the_next_pass(tmp_path: Path, database_url: str, smtp: SmtpServer) -> None:
    hub = make_office(tmp_path / "office", database_url, outbound_url=smtp.url())
    try:
        folder = hub.config.resolve(hub.config.letters.folder)
        assert acknowledgement_subject(hub, smtp, "ana").startswith("We received your message")
        letter = folder / "acknowledgement.email.j2"
        letter.write_text("Subject: Got it, {{ constituent.first_name }}\n\nThanks.\n")
        assert acknowledgement_subject(hub, smtp, "ben").startswith("Got it, Ben")
        letter.write_text("Subject: Thank you, {{ constituent.first_name }}\n\nThanks.\n")
        os.utime(letter, (letter.stat().st_atime + 10, letter.stat().st_mtime + 10))  # a later save, whatever the grain
        assert acknowledgement_subject(hub, smtp, "cy").startswith("Thank you, Cy")
    finally:
        hub.close()
