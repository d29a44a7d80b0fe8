"""`hub check`: try each outside system the office's configuration names, one line each, and change
nothing: the database (connect, read the schema's revision), the inbox (log in and open the mailbox,
or read the Maildir), the outbound server (connect and log in, no message sent, or the sent Maildir)
and the SMS account (list today's texts). A failure is the line's own, never an exception: every check
runs whatever the others did.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from hub.core import redact
from hub.core.config import Config
from hub.core.db import make_engine, mismatch, redact_url, schema_revision
from hub.core.errors import HubError, SchemaError
from hub.core.migrations import HEAD
from hub.delivery.smtp import SmtpAddress, SmtpSender
from hub.delivery.twilio import SmsLine
from hub.oauth2.source import TokenSource, office_tokens
from hub.run.cycle import inbox_tokens
from hub.sources.backoff import one_line
from hub.sources.imap import ImapAddress, connect_and_log_in

CHECK_TIMEOUT = 30


@dataclass(frozen=True)
class Check:
    name: str   # "database", "inbox", "outbound", "sms"
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.name}: {'ok' if self.ok else 'FAILED'}: {self.detail}"


def run_checks(config: Config) -> list[Check]:
    """Every check, in order; all of them run."""
    tokens = office_tokens(config)
    checks: list[tuple[str, Callable[[], str]]] = [
        ("database", lambda: _database(config)),
        ("inbox", lambda: _inbox(config, tokens)),
        ("outbound", lambda: _outbound(config, tokens)),
        ("sms", lambda: _sms(config)),
    ]
    found = []
    for name, check in checks:
        try:
            found.append(Check(name, True, check()))
        except HubError as error:  # the hub's own errors say what and where
            found.append(Check(name, False, redact.addresses(" ".join(str(error).split()))))
        except (SQLAlchemyError, OSError) as error:
            found.append(Check(name, False, redact.addresses(one_line(error))))
    return found


def _database(config: Config) -> str:
    url = redact_url(config.database_url)
    engine = make_engine(config.database_url)
    try:
        revision = schema_revision(engine)
        if revision != HEAD:
            raise SchemaError(f"{url}: connected, but {mismatch(engine, revision)}")
    finally:
        engine.dispose()
    return f"{url}: connected, schema up to date"


def _inbox(config: Config, tokens: TokenSource | None) -> str:
    inbox = config.inbox
    if inbox.url.startswith("maildir:"):
        return _folder(config, inbox.url)
    address = ImapAddress.parse(inbox.url)
    client, login = connect_and_log_in(address, inbox.password, CHECK_TIMEOUT, inbox_tokens(config, tokens))
    try:
        selected = client.select_folder(address.mailbox, readonly=True)
        waiting = int(selected.get(b"EXISTS", 0))
        idle = "IDLE offered" if b"IDLE" in client.capabilities() else "no IDLE (the inbox is polled)"
    finally:
        client.logout()
    return (f"{address.name}: logged in as {address.user} with {login.description}; {waiting} messages in "
            f"{address.mailbox}; {idle}")


def _outbound(config: Config, tokens: TokenSource | None) -> str:
    outbound = config.outbound
    if outbound.url.startswith("maildir:"):
        return _folder(config, outbound.url)
    address = SmtpAddress.parse(outbound.url)
    ca_file = str(config.resolve(outbound.ca_file)) if outbound.ca_file else None
    used = (tokens or office_tokens(config)) if outbound.auth == "oauth2" else None

    async def check() -> str:
        async with SmtpSender(address, outbound.password, ca_file, min(outbound.timeout_seconds, CHECK_TIMEOUT),
                              tokens=used) as sender:
            return await sender.check()
    return f"{address.name}: {asyncio.run(check())}; no message sent"


def _sms(config: Config) -> str:
    sms = config.sms
    if sms is None:
        return "no SMS line configured"
    line = SmsLine(sms, config.limits.max_attachment_bytes)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    texts = line.received_since(today)
    return (f"Twilio account {sms.account_sid[:6]}… answered for {redact.addresses(sms.number)}: "
            f"{len(texts)} texts today")


def _folder(config: Config, url: str) -> str:
    """A Maildir the hub reads or writes: its folder, or the folder it will be made in at first use."""
    folder = config.resolve(url[len("maildir:"):])
    target = folder if folder.is_dir() else folder.parent
    if not target.is_dir():
        raise HubError(f"{url}: no folder {folder}, nor {target} to make it in")
    if not os.access(target, os.R_OK | os.W_OK | os.X_OK):
        raise HubError(f"{url}: {target} is not readable and writable by this user")
    made = "" if folder.is_dir() else " (made at first use)"
    return f"{url}: folder {folder} readable and writable{made}"
