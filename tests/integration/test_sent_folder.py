"""A letter in doubt is looked for in the office mailbox's Sent folder before it goes again, on SQLite and PostgreSQL.

The SMTP server (aiosmtpd) files every message it accepts in the Sent folder of a private Dovecot before its
250, as Microsoft 365 and Google Workspace do, and that Dovecot is the office's inbox. The crash is real:
the server SIGKILLs `hub run --once` when it has the end of the letter's DATA, before it answers.

- Taken by the server (and filed in Sent): the next run finds it there, marks it sent and records it on
  its case, and does not send it again.
- Refused by the server (451, nothing kept): not in Sent, so the next run sends it, once.
- No crash, but the connection broke before the server's 250 reached the hub: in doubt the same way.
- The Sent folder cannot be searched (a Maildir inbox; the IMAP server down): sent again, with a WARNING
  naming no address; or, with `[outbound] sent_folder_unreachable = "wait"`, the letter waits and is
  found once the folder can be searched.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from hub.core.app import Hub, open_hub
from hub.core.clock import FixedClock, as_utc
from hub.core.models import Outbox
from hub.delivery.deliver import LEASE, deliver_due
from hub.delivery.in_doubt import IN_DOUBT
from hub.sources.sent_folder import office_sent_folder
from tests.helpers import START, make_office
from tests.hub_process import wait_until
from tests.integration.test_delivery import outbox
from tests.integration.test_delivery_crash import finish, hub_once, sent_records, write_in
from tests.servers.dovecot import SENT, DovecotServer
from tests.servers.smtp import CapturedMessage, SmtpServer

pytestmark = pytest.mark.integration
NEXT = LEASE + timedelta(minutes=1)  # the killed run's lease has run out


@pytest.fixture
def office(tmp_path: Path, database_url: str, filing_smtp: SmtpServer, sent_dovecot: DovecotServer) -> Iterator[Hub]:
    hub = make_office(tmp_path / "office", database_url, inbox_url=sent_dovecot.imap_url(),
                      outbound_url=filing_smtp.url())
    yield hub
    hub.close()


def crash_at_end_of_data(office: Hub, smtp: SmtpServer, at: datetime, refuse: bool = False) -> Outbox:
    """`hub run --once` killed by the server at the end of the first letter's DATA, before the server answers;
    then the server takes the letter (files it in Sent and keeps it), or with `refuse` answers 451 and keeps
    nothing. The letter's row, left in doubt."""
    write_in(office, 0, 1)
    process = hub_once(office, at)
    killed: list[str] = []

    def kill(message: CapturedMessage) -> None:
        if not killed:
            killed.append(message.message_id)
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        if refuse:
            raise RuntimeError("refused on purpose")

    smtp.on_data(kill)
    try:
        assert process.wait(120) == -signal.SIGKILL, office.config.resolve("var/hub.log").read_text()
        wait_until(lambda: len(smtp.messages) + len(smtp.rejected) == 1, 30, "the server's answer to the dead client")
    finally:
        smtp.on_data(None)
    (row,) = [row for row in outbox(office) if row.message_id == killed[0]]
    assert row.state == "sending", "killed before its mark"
    journal = office.config.resolve("var/sent-journal")
    assert not any(line.startswith(f"{row.id} ") for line in journal.read_text().splitlines()), \
        "killed before its journal line"
    return row


def copies(smtp: SmtpServer, message_id: str) -> int:
    return len(smtp.by_message_id().get(message_id, []))


def in_sent(dovecot: DovecotServer) -> int:
    """How many messages the Sent folder holds (none before the server first opens it)."""
    return sum(1 for sub in ("new", "cur") for _ in (dovecot.maildir / f".{SENT}" / sub).glob("*"))


def test_a_letter_the_server_took_before_the_crash_is_found_in_sent_and_not_sent_again(
        office: Hub, filing_smtp: SmtpServer, sent_dovecot: DovecotServer) -> None:
    row = crash_at_end_of_data(office, filing_smtp, START)
    assert copies(filing_smtp, row.message_id) == 1 and in_sent(sent_dovecot) == 1

    finish(office, START + NEXT)

    assert copies(filing_smtp, row.message_id) == 1, "not sent again"
    rows = outbox(office)
    assert {(found.state, found.unrecorded) for found in rows} == {("sent", False)}
    assert sent_records(office) == {found.message_id: 1 for found in rows}, "recorded on its case once"
    assert {found.message_id for found in rows} == set(filing_smtp.by_message_id()), "the other letter went too"
    (marked,) = [found for found in rows if found.id == row.id]
    assert marked.provider_id is not None and marked.provider_id.startswith(f"found in the Sent folder {SENT} (UID ")
    (sent_copy,) = filing_smtp.by_message_id()[row.message_id]
    assert marked.sent_at is not None and as_utc(marked.sent_at) == parsedate_to_datetime(sent_copy.message["Date"]), \
        "dated as it went, not when it was found"


def test_a_letter_the_server_refused_at_the_crash_is_not_in_sent_and_goes_once(
        office: Hub, filing_smtp: SmtpServer, sent_dovecot: DovecotServer) -> None:
    row = crash_at_end_of_data(office, filing_smtp, START, refuse=True)
    assert copies(filing_smtp, row.message_id) == 0 and in_sent(sent_dovecot) == 0

    finish(office, START + NEXT)

    assert copies(filing_smtp, row.message_id) == 1, "sent once"
    rows = outbox(office)
    assert {(found.state, found.unrecorded) for found in rows} == {("sent", False)}
    assert sent_records(office) == {found.message_id: 1 for found in rows}


def test_a_letter_whose_answer_the_connection_lost_is_found_in_sent_and_not_sent_again(
        office: Hub, filing_smtp: SmtpServer, sent_dovecot: DovecotServer) -> None:
    """The server took the letter and filed it in Sent, and the connection broke before its 250 reached the hub
    (a reset, a firewall's idle cut): sent again without a look, it would arrive twice."""
    write_in(office, 0, 1)
    filing_smtp.lose_answers(1)
    finish(office, START)
    lost = filing_smtp.messages[0]
    (row,) = [row for row in outbox(office) if row.message_id == lost.message_id]
    assert (row.state, row.provider_id) == ("pending", IN_DOUBT), "waits in doubt for its next try"
    assert copies(filing_smtp, row.message_id) == 1 and in_sent(sent_dovecot) >= 1

    finish(office, START + NEXT)

    assert copies(filing_smtp, row.message_id) == 1, "not sent again"
    rows = outbox(office)
    assert {(found.state, found.unrecorded) for found in rows} == {("sent", False)}
    assert sent_records(office) == {found.message_id: 1 for found in rows}, "recorded on its case once"
    (marked,) = [found for found in rows if found.id == row.id]
    assert marked.provider_id is not None and marked.provider_id.startswith(f"found in the Sent folder {SENT} (UID ")


def test_without_an_imap_inbox_a_letter_in_doubt_goes_again_with_a_warning(
        tmp_path: Path, database_url: str, filing_smtp: SmtpServer) -> None:
    office = make_office(tmp_path / "office", database_url, outbound_url=filing_smtp.url())  # a Maildir inbox
    try:
        row = crash_at_end_of_data(office, filing_smtp, START)
        finish(office, START + NEXT)
        assert copies(filing_smtp, row.message_id) == 2, "nothing lost beats nothing twice"
        assert {found.state for found in outbox(office)} == {"sent"}
        (warning,) = [line for line in office.config.resolve("var/hub.log").read_text().splitlines()
                      if "Sent folder cannot be searched" in line]
        assert "WARNING" in warning and "Maildir" in warning and "it goes again" in warning
        assert "@" not in warning
    finally:
        office.close()


def reopened(office: Hub, old: str, new: str) -> Hub:
    """The office opened again after one change to its hub.toml."""
    path = office.config.path
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return open_hub(path, FixedClock(START))


@pytest.mark.parametrize("choice", ["send", "wait"])
def test_with_the_imap_server_down_a_letter_in_doubt_goes_again_or_waits_as_configured(
        office: Hub, filing_smtp: SmtpServer, sent_dovecot: DovecotServer, caplog: pytest.LogCaptureFixture,
        choice: str) -> None:
    row = crash_at_end_of_data(office, filing_smtp, START)
    hub = reopened(office, 'sent_folder_unreachable = "send"', f'sent_folder_unreachable = "{choice}"')
    try:
        clock = hub.clock
        assert isinstance(clock, FixedClock)
        clock.at = START + NEXT
        filing_smtp.file_sent_mail(None)  # the provider's mail goes on; only its IMAP service is down
        sent_dovecot.stop()
        with caplog.at_level(logging.WARNING, logger="hub"):
            deliver_due(hub, sent_folder=office_sent_folder(hub.config))
        (warning,) = [record for record in caplog.records if "Sent folder cannot be searched" in record.getMessage()]
        assert warning.levelno == logging.WARNING and f"{sent_dovecot.user}@" not in warning.getMessage()
        (after,) = [found for found in outbox(hub) if found.id == row.id]
        others = [found for found in outbox(hub) if found.id != row.id]
        assert others and {found.state for found in others} == {"sent"}, \
            "the rest of its batch never reached the server: not in doubt, it goes at once (hub.delivery.claims)"
        if choice == "send":
            assert copies(filing_smtp, row.message_id) == 2 and after.state == "sent"
            return
        assert copies(filing_smtp, row.message_id) == 1, "it waits"
        assert (after.state, after.provider_id) == ("pending", IN_DOUBT)
        sent_dovecot.start()
        filing_smtp.file_sent_mail(sent_dovecot, SENT)
        clock.at = START + 2 * NEXT  # past its pause
        deliver_due(hub, sent_folder=office_sent_folder(hub.config))
        (after,) = [found for found in outbox(hub) if found.id == row.id]
        assert copies(filing_smtp, row.message_id) == 1, "found in Sent once it could be searched"
        assert after.state == "sent" and (after.provider_id or "").startswith("found in the Sent folder")
        assert sent_records(hub)[row.message_id] == 1
    finally:
        hub.close()
