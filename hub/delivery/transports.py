"""Where outbound mail goes: the office's SMTP server, or the embedded default's sent Maildir."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

from hub.core.config import Config
from hub.delivery import sent_maildir
from hub.delivery.smtp import SmtpAddress, SmtpSender
from hub.oauth2.source import TokenSource, office_tokens


class Transport(Protocol):
    async def send(self, raw: bytes, mail_from: str, recipient: str, message_id: str,
                   before_data: Callable[[], None] = lambda: None) -> str:
        """Deliver one message; returns the provider's id for it. Raises TemporaryError / PermanentError.
        `before_data` runs before the server can accept the message (before SMTP's DATA)."""
        ...


class _MaildirTransport:
    def __init__(self, folder_url: str, config: Config) -> None:
        self.folder = config.resolve(folder_url[len("maildir:"):])

    async def send(self, raw: bytes, mail_from: str, recipient: str, message_id: str,
                   before_data: Callable[[], None] = lambda: None) -> str:
        before_data()
        return "maildir:" + sent_maildir.deliver(self.folder, raw, message_id)


class _SmtpTransport:
    def __init__(self, sender: SmtpSender) -> None:
        self.sender = sender

    async def send(self, raw: bytes, mail_from: str, recipient: str, message_id: str,
                   before_data: Callable[[], None] = lambda: None) -> str:
        return await self.sender.send(raw, mail_from, recipient, before_data)


@asynccontextmanager
async def open_transport(config: Config, tokens: TokenSource | None = None) -> AsyncIterator[Transport]:
    """The configured transport for one delivery pass (one SMTP connection, opened on first use). With
    `[outbound] auth = "oauth2"` it logs in with `tokens` (the daemon's, kept from pass to pass), else with
    a token source of its own."""
    outbound = config.outbound
    if outbound.url.startswith("maildir:"):
        yield _MaildirTransport(outbound.url, config)
        return
    ca_file = str(config.resolve(outbound.ca_file)) if outbound.ca_file else None
    if outbound.auth == "oauth2":
        tokens = tokens or office_tokens(config)
    else:
        tokens = None
    async with SmtpSender(SmtpAddress.parse(outbound.url), outbound.password, ca_file,
                          outbound.timeout_seconds, tokens=tokens) as sender:
        yield _SmtpTransport(sender)
