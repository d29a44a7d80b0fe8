"""One message never stops the others: whatever a message makes the parser, screening or filing raise,
it goes to quarantine with the reason, and the messages behind it are filed (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from hub.core.app import Hub
from hub.core.models import Message, QuarantineItem
from hub.intake.message import InboundMessage
from hub.intake.parse.email import parse_email
from hub.intake.pipeline import Intake, process
from hub.run.cycle import drain_inbox
from tests.helpers import email, feed, make_office, tally
from tests.postgres import PostgresDatabases, require

pytestmark = pytest.mark.integration

# A bounce-like mail with a NUL inside a MIME parameter: screening's charset lookup raised ValueError.
POISON = (b'From: MAILER-DAEMON@mail.example.com\r\nTo: casework@doe.example.gov\r\n'
          b'Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <poison-1@mail.example.com>\r\n'
          b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
          b'Content-Type: text/plain; charset="us-ascii\0"\r\n\r\n'
          b'This is the mail system. Your message could not be delivered to <x@example.org>.\r\n--b--\r\n')


def held(hub: Hub) -> list[QuarantineItem]:
    with hub.sessions() as session:
        return list(session.scalars(select(QuarantineItem)))


def test_the_poison_bounce_is_read_as_the_bounce_it_is(hub: Hub) -> None:
    outcome = feed(hub, POISON)

    assert (outcome.fate, outcome.reason) == ("triage", "bounce with no case: sent by MAILER-DAEMON; not about "
                                                        "mail the hub sent, so nothing is marked")
    assert held(hub) == []


def test_whatever_a_parser_raises_sends_that_message_to_quarantine(hub: Hub) -> None:
    def parser(raw: bytes, source: str, max_attachment_bytes: int) -> InboundMessage:
        raise RecursionError("maximum recursion depth exceeded")

    outcome = process(Intake.of(hub), POISON, "test", parser)

    assert (outcome.fate, outcome.reason) == ("quarantine", "parsing failed: RecursionError: maximum recursion "
                                                            "depth exceeded")
    [item] = held(hub)
    assert item.raw == POISON and item.reason == outcome.reason


def test_messages_behind_the_poison_in_a_maildir_are_filed(tmp_path: Path, database_url: str) -> None:
    hub = make_office(tmp_path / "office", database_url)
    try:
        new = tmp_path / "office" / "var" / "inbox" / "new"
        new.mkdir(parents=True, exist_ok=True)
        (new / "1.poison").write_bytes(POISON)
        for number in range(2, 5):
            (new / f"{number}.mail").write_bytes(email(sender=f"person{number}@example.com",
                                                       subject=f"Help number {number}"))

        summary = drain_inbox(hub)

        assert summary.fates["triage"] == 1 and summary.fates["new-case"] == 3
        assert not list(new.iterdir()), "every message left the inbox"
        assert tally(hub).cases == 3
    finally:
        hub.close()


def test_hub_ingest_of_the_poison_exits_0_without_a_traceback(tmp_path: Path, database_url: str) -> None:
    make_office(tmp_path / "office", database_url).close()
    poison = tmp_path / "poison.eml"
    poison.write_bytes(POISON)
    after = tmp_path / "after.eml"
    after.write_bytes(email(sender="after@example.com"))

    result = subprocess.run([sys.executable, "-m", "hub", "--config", str(tmp_path / "office/config/hub.toml"),
                             "ingest", str(poison), str(after)], capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "1 new-case, 1 triage" in result.stdout


def test_a_failure_while_filing_quarantines_only_that_message(hub: Hub) -> None:
    """300,000 References once made the thread lookup's statement too big for SQLite and PostgreSQL (too
    many variables): an OperationalError, which stops a batch as if the database were down."""
    references = b"\r\n ".join(b"<ref%d@example.com>" % number for number in range(300_000))
    raw = b"References: " + references + b"\r\n" + email(sender="threads@example.com")

    outcome = process(Intake.of(hub), raw, "test", parse_email)

    assert outcome.fate in ("new-case", "case", "triage")
    with hub.sessions() as session:
        assert session.scalar(select(Message.id).where(Message.sender == "threads@example.com")) is not None


def test_a_database_outage_still_stops_the_batch_and_quarantines_nothing(tmp_path: Path,
                                                                        postgres: PostgresDatabases) -> None:
    """The other side of the rule: when the server drops the connection, the message is not blamed."""
    reason = postgres.unavailable_reason()
    if reason:
        require(reason)
    url = postgres.fresh()
    hub = make_office(tmp_path / "office", url)
    try:
        feed(hub, email(sender="first@example.com"))
        with postgres.admin.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": url.rsplit("/", 1)[1]})

        with pytest.raises(OperationalError):
            feed(hub, email(sender="second@example.com"))

        assert held(hub) == []
        assert feed(hub, email(sender="second@example.com")).fate == "new-case", "the next pass files it"
    finally:
        hub.close()


def test_a_message_too_costly_to_parse_is_quarantined_with_the_reason(hub: Hub) -> None:
    depth, lines = 200, 400_000
    opening = b"".join(b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (i, i) for i in range(depth))
    raw = (b"From: nest@example.com\r\nMIME-Version: 1.0\r\n" + opening + b"Content-Type: text/plain\r\n\r\n"
           + b"line\r\n" * lines + b"".join(b"--n%d--\r\n" % i for i in reversed(range(depth))))

    outcome = feed(hub, raw)

    assert (outcome.fate, outcome.reason) == ("quarantine", f"MIME structure too costly to read: {depth} multipart "
                                                            f"boundaries over {lines + 4 * depth + 4} lines")


def test_a_report_part_with_a_100_kb_header_of_8_bit_bytes_is_read(hub: Hub) -> None:
    """mail-parser writes each part out again, and the stdlib folds a long 8-bit header in quadratic time."""
    raw = POISON.replace(b'charset="us-ascii\0"', b'charset="us-ascii"').replace(
        b"--b--", b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
                  b"Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: "
                  + b"\xe9 quota" * 12_500 + b"\r\n\r\n--b--")

    outcome = feed(hub, raw)

    assert outcome.fate == "triage" and outcome.reason.startswith("bounce with no case")
