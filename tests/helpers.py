"""Helpers shared by unit and integration tests: offices, test mail, one-call intake."""

from __future__ import annotations

import logging
import mailbox
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select

from hub.cli.main import main
from hub.core.app import Hub, open_hub
from hub.core.clock import FixedClock
from hub.core.db import make_engine
from hub.core.file_store import attachment_bytes, raw_of
from hub.core.models import Attachment, Case, Message, QuarantineItem
from hub.core.schema import upgrade
from hub.intake.parse.email import parse_email
from hub.intake.pipeline import Intake, Outcome, process
from hub.run.office import init_office
from hub.sources.imap import ImapAddress

START = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
OFFICE_ADDRESS = "casework@doe.example.gov"
STAFF = "maria.lopez@doe.example.gov"
# What the office's receiving server writes on a genuine staff message (the example config's authserv_id).
STAFF_AUTHENTICATED = "mx.doe.example.gov; dkim=pass header.d=doe.example.gov; spf=pass smtp.mailfrom=doe.example.gov"


def vouched(address: str) -> str:
    """The Authentication-Results the office's receiving server writes on genuine mail from `address`'s domain."""
    domain = address.rsplit("@", 1)[1].strip("> ")
    return f"mx.doe.example.gov; dkim=pass header.d={domain}; dmarc=pass header.from={domain}"


def make_office(folder: Path, database_url: str, inbox_url: str | None = None,
                clock: FixedClock | None = None, outbound_url: str | None = None,
                agencies: dict[str, dict[str, object]] | None = None, sms: dict[str, object] | None = None,
                tables: str = "", caseworker_digest: bool = False) -> Hub:
    """A new office folder whose database is `database_url`; returns the opened hub with a fixed clock.

    `sms` is the office's [sms] table (account_sid, number, api_base, …), for an SMS line; `tables` is TOML
    added at the end of hub.toml (its [[forms]], say). The caseworkers' Monday digest is off unless asked
    for: START is a Monday morning, and the tests of other mail count what each caseworker gets."""
    path = init_office(folder)
    text = path.read_text()
    if not caseworker_digest:
        text = text.replace("\ncaseworker_digest = true\n", "\ncaseworker_digest = false\n", 1)
    text = re.sub(r'(?m)^url = "sqlite:///var/hub.db"', f'url = "{database_url}"', text)
    if inbox_url:
        text = re.sub(r'(?m)^url = "maildir:var/inbox"', f'url = "{inbox_url}"', text)
    if outbound_url:
        text = re.sub(r'(?m)^url = "maildir:var/sent"', f'url = "{outbound_url}"', text)
    if sms:
        table = "".join(f"{key} = {_toml(value)}\n" for key, value in sms.items())
        text = text.replace("\n[[staff]]", f"\n[sms]\n{table}\n[[staff]]", 1)
    path.write_text(text + tables)
    directory = path.parent / "agencies.toml"
    for key, settings in (agencies or {}).items():
        head, table = directory.read_text().split(f"[agencies.{key}]\n", 1)
        for name, value in settings.items():  # replaces the shipped value, or adds the key
            table = re.sub(rf"(?m)^{name} = .*$", "", table, count=1)
            # Strings as TOML literal strings: control-number patterns keep their backslashes.
            written = f"'{value}'" if isinstance(value, str) else _toml(value)
            table = f"{name} = {written}\n{table}"
        directory.write_text(f"{head}[agencies.{key}]\n{table}")
    upgrade_database(database_url)
    return open_hub(path, clock or FixedClock(START))


def upgrade_database(url: str) -> None:
    """The database brought to this hub's schema, as `hub db upgrade` does (opening it never migrates)."""
    engine = make_engine(url)
    try:
        upgrade(engine, url)
    finally:
        engine.dispose()


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int) else f'"{value}"'


def email(sender: str = "Pat Example <pat@example.com>", to: str = OFFICE_ADDRESS, subject: str = "Help please",
          body: str = "My benefits letter never arrived.", message_id: str | None = None,
          headers: dict[str, str] | None = None, html: str | None = None, date: datetime = START) -> bytes:
    """An RFC 5322 message as bytes, the way a mail client would send it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id or make_msgid(domain="example.com")
    for name, value in (headers or {}).items():
        message[name] = value
    if html is not None:
        message.set_content(html, subtype="html")
    else:
        message.set_content(body)
    return message.as_bytes()


def deliver(hub: Hub, raw: bytes) -> None:
    """Put a message in the office's inbox as its mail server would: into the Maildir of `[inbox] url`, or by
    IMAP APPEND to its mailbox (logged in with the password in `[inbox] password_env`)."""
    url = hub.config.inbox.url
    if url.startswith("maildir:"):
        mailbox.Maildir(hub.config.resolve(url.removeprefix("maildir:")), create=True).add(raw)
        return
    address = ImapAddress.parse(url)
    with IMAPClient(address.host, port=address.port, ssl=address.secure) as client:
        client.login(address.user, os.environ[hub.config.inbox.password_env])
        client.append(address.mailbox, raw)


def trust_warnings(config: Path, caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings `hub run --once` gives at its start about senders it believes without authentication."""
    with caplog.at_level(logging.WARNING, logger="hub"):
        assert main(["--config", str(config), "run", "--once"]) == 0
    return [record.getMessage() for record in caplog.records if "require_authentication" in record.getMessage()]


def feed(hub: Hub, raw: bytes, source: str = "test") -> Outcome:
    """Take one message through the whole inbound path."""
    return process(Intake.of(hub), raw, source, parse_email)


def stored_raw(hub: Hub, message: Message) -> bytes | None:
    """A stored message's raw bytes, as hub.core.file_store gives them back."""
    with hub.engine.connect() as connection:
        return raw_of(connection, message.id)


def stored_file(hub: Hub, attachment: Attachment) -> bytes | None:
    """A stored attachment's bytes, as hub.core.file_store gives them back."""
    with hub.sessions() as session:
        return attachment_bytes(session, attachment)


@dataclass(frozen=True)
class Tally:
    """Inbound messages and where they went."""

    cases: int
    messages: int
    on_cases: int
    triage: int
    quarantine: int


def tally(hub: Hub) -> Tally:
    with hub.sessions() as session:
        count = lambda q: session.scalar(q) or 0  # noqa: E731
        return Tally(
            cases=count(select(func.count()).select_from(Case)),
            messages=count(select(func.count()).select_from(Message).where(Message.direction == "in")),
            on_cases=count(select(func.count()).select_from(Message).where(Message.direction == "in",
                                                                           Message.case_id.is_not(None))),
            triage=count(select(func.count()).select_from(Message).where(Message.disposition == "triage")),
            quarantine=count(select(func.count()).select_from(QuarantineItem)),
        )
