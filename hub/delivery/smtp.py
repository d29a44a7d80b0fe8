"""Outbound mail over SMTP submission (aiosmtplib).

`SmtpSender` keeps one connection for a batch of messages, one envelope recipient per message, and
reconnects when the server dropped the connection between two messages. Each failure comes out as a
hub error whose class carries the disposition (STYLE 4) and whose `code` is the server's reply code:

- 4xx, 552, connection refused/reset, timeouts, TLS handshake failures → `SmtpTemporaryError` (retry);
  when no session could be had at all (the connection, greeting, TLS or login failed for now) it is an
  `SmtpUnreachable`, which tells the caller that the other messages would fare no better;
- other 5xx, including a refused recipient → `SmtpPermanentError` (record, do not retry);
- a refused login → `SmtpLoginRefused`, a ConfigError: the operator must fix the configuration, and
  the messages wait for that.

With `[outbound] auth = "oauth2"` the login is an OAuth 2.0 token (hub.delivery.smtp_login). Plain-text
AUTH travels only under TLS (STARTTLS is required for smtp:// to anything but loopback), and
certificates are checked against the system's trust store plus the optional `[outbound] ca_file`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

import aiosmtplib

from hub.core.errors import AnswerLost, ConfigError, HubError, PermanentError, TemporaryError, Unreachable
from hub.delivery.smtp_login import TOKEN_HINT, log_in
from hub.oauth2.source import TokenSource
from hub.oauth2.token import TokenUnavailable

log = logging.getLogger(__name__)
DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
URL_FORM = "smtp://[USER@]HOST[:PORT] (STARTTLS) or smtps://[USER@]HOST[:PORT] (TLS)"
# RFC 5321 §4.5.3.1.10: 552 "exceeded storage allocation" is to be treated as temporary.
TEMPORARY_5XX = frozenset({552})
MAX_REPLY_TEXT = 300
REFUSALS = {"connect": "the server refused the session", "MAIL FROM": "sender refused",
            "RCPT TO": "recipient refused", "DATA": "message refused"}


class SmtpTemporaryError(TemporaryError):
    """The server or the network failed for now; `code` is the SMTP reply code when there was one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class SmtpUnreachable(SmtpTemporaryError, Unreachable):
    """No session with the server at all, for now: refused, timed out, dropped before the first message."""


class SmtpAnswerLost(SmtpTemporaryError, AnswerLost):
    """The letter's DATA was sent and the server's reply to it never came."""


class SmtpPermanentError(PermanentError):
    """The server refused for good; `code` is the SMTP reply code when there was one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class SmtpLoginRefused(ConfigError):
    """The server refused our login: no message can go until the operator fixes the configuration,
    so it is a configuration error (the messages wait), not a failure of the message at hand."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SmtpAddress:
    implicit_tls: bool
    host: str
    port: int
    user: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpAddress:
        parts = urlsplit(url)
        shown = url if parts.password is None else "(a URL with a password)"
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"[outbound] url: bad port in {shown!r}") from None
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/") \
                or parts.query or parts.fragment:
            raise ConfigError(f"[outbound] url: expected {URL_FORM}, got {shown!r}")
        if parts.password is not None:
            raise ConfigError("[outbound] url: the password belongs in the environment variable named by "
                              "[outbound] password_env, not in the URL")
        user = unquote(parts.username) if parts.username else None
        return cls(parts.scheme == "smtps", parts.hostname, port or DEFAULT_PORTS[parts.scheme], user)

    @property
    def name(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        return is_loopback(self.host)


def tls_context(ca_file: str | Path | None) -> ssl.SSLContext:
    """The system's trust store, plus the office's own CA when `[outbound] ca_file` names one."""
    context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(f"[outbound] ca_file: cannot load {ca_file}: {error}") from None
    return context


class _Stale(Exception):
    """A reused connection turned out closed before the server saw any DATA: safe to send again."""


class SmtpSender:
    """One SMTP session for a batch of messages. Connects on the first `send`, and again when the
    server dropped the connection; `async with` closes it with QUIT.

        async with SmtpSender(address, password, ca_file, timeout) as sender:
            reply = await sender.send(raw, mail_from, recipient)   # "250 2.0.0 Ok: queued as 4F2A1"
    """

    def __init__(self, address: SmtpAddress, password: str | None, ca_file: str | Path | None = None,
                 timeout: float = 60, local_hostname: str | None = None, tokens: TokenSource | None = None) -> None:
        if tokens is not None and not address.user:
            raise ConfigError(f"[outbound] url: auth = \"oauth2\" needs the mailbox to log in as, as in "
                              f"smtp://USER@HOST:587 (got {address.name})")
        if address.user and password is None and tokens is None:
            raise ConfigError(f"[outbound] password_env: the environment variable holding the SMTP password "
                              f"for {address.user} is not set")
        self.address = address
        self.name = address.name
        self.password = password
        self.tokens = tokens
        self.login = ""  # how the last connection logged in ("password", "XOAUTH2", …); "" without AUTH
        self.timeout = timeout
        self.local_hostname = local_hostname
        self.ca_file = ca_file
        # The office's own CA is checked at once; the system's trust store (tens of milliseconds to load) only
        # when TLS is first used: never on a loopback server without it.
        self._context = tls_context(ca_file) if ca_file else None
        self.connections = 0  # how many times this sender connected, for logs and tests
        self._client: aiosmtplib.SMTP | None = None

    def context(self) -> ssl.SSLContext:
        """The TLS context of this sender's connections, made the first time one needs it."""
        if self._context is None:
            self._context = tls_context(self.ca_file)
        return self._context

    async def __aenter__(self) -> SmtpSender:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        transport = client.transport
        try:
            if client.is_connected:
                await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            pass  # the messages are already accepted or refused; a failed goodbye changes nothing
        finally:
            await _shut(client, transport)

    async def send(self, raw: bytes, mail_from: str, recipient: str,
                   before_data: Callable[[], None] = lambda: None) -> str:
        """Deliver one message to one recipient; returns the server's final reply to DATA, one line.
        `before_data` runs once the recipient is accepted, before DATA: nothing is accepted before it."""
        reused = self._client is not None and self._client.is_connected
        if not reused:
            await self._connect()
        try:
            return await self._transaction(raw, mail_from, recipient, before_data)
        except _Stale as stale:
            await self._drop()
            if not reused:
                raise SmtpUnreachable(f"{self.name}: connection lost before DATA: {stale}") from None
        # The server closed an idle connection (its timeout, a restart) as we began: nothing was
        # accepted yet, so the same message goes once more on a new connection.
        log.info("%s: the server closed the connection; connecting again", self.name)
        await self._connect()
        try:
            return await self._transaction(raw, mail_from, recipient, before_data)
        except _Stale as stale:
            await self._drop()
            raise SmtpUnreachable(f"{self.name}: connection lost before DATA: {stale}") from None

    async def _connect(self) -> None:
        await self._drop()
        address = self.address
        client = aiosmtplib.SMTP(hostname=address.host, port=address.port, timeout=self.timeout,
                                 local_hostname=self.local_hostname, use_tls=address.implicit_tls,
                                 start_tls=False, tls_context=self.context() if address.implicit_tls else None)
        try:
            await client.connect()
            self.connections += 1
            await client.ehlo()
            if not address.implicit_tls:
                if client.supports_extension("starttls"):
                    await client.starttls(tls_context=self.context())
                    await client.ehlo()  # RFC 3207 §4.2: what the server offers may change under TLS
                elif not address.is_loopback:
                    raise ConfigError(f"[outbound] url: {address.host} offers no STARTTLS; use smtps:// instead")
            if address.user:
                if not client.supports_extension("auth"):
                    raise ConfigError(f"[outbound] url: {address.name} offers no AUTH; "
                                      f"remove the user from the URL or check the server")
                self.login = await log_in(client, address.user, self.password, self.tokens)
        except aiosmtplib.SMTPAuthenticationError as error:
            await _shut(client, client.transport)
            reply = _reply(error.code, error.message)
            if 400 <= error.code < 500:
                raise SmtpUnreachable(f"{self.name}: login failed for now: {reply}", error.code) from None
            hint = TOKEN_HINT if self.tokens else "check [outbound] url and password_env"
            what = "the OAuth 2.0 token" if self.tokens else "login"
            raise SmtpLoginRefused(f"{self.name}: {what} refused for {address.user}: {reply}; {hint}",
                                   error.code) from None
        except (aiosmtplib.SMTPException, OSError) as error:
            await _shut(client, client.transport)
            raise self._failure("connect", error) from None
        except TokenUnavailable as error:  # no token, no session: like a server that cannot be reached
            await _shut(client, client.transport)
            raise SmtpUnreachable(f"{self.name}: {error}") from None
        except BaseException:
            await _shut(client, client.transport)
            raise
        self._client = client

    async def check(self) -> str:
        """Connect and log in, send nothing: what `hub check` reports (`logged in as USER with XOAUTH2`)."""
        await self._connect()
        if not self.address.user:
            return "connected (no login)"
        return f"logged in as {self.address.user} with {self.login}"

    async def _transaction(self, raw: bytes, mail_from: str, recipient: str,
                           before_data: Callable[[], None]) -> str:
        client = self._client
        assert client is not None
        options = []
        if client.supports_extension("size"):
            size = len(raw) + raw.count(b"\n") - raw.count(b"\r\n")  # as sent, with CRLF line ends
            options.append(f"SIZE={size}")
        if not raw.isascii() and client.supports_extension("8bitmime"):
            options.append("BODY=8BITMIME")
        encoding = "ascii"
        if not (mail_from.isascii() and recipient.isascii()):
            if not client.supports_extension("smtputf8"):
                raise SmtpPermanentError(f"{self.name}: an envelope address is not ASCII and the server "
                                         f"does not offer SMTPUTF8")
            options.append("SMTPUTF8")
            encoding = "utf-8"
        stage = "MAIL FROM"
        try:
            await client.mail(mail_from, options=options, encoding=encoding)
            stage = "RCPT TO"
            await client.rcpt(recipient, encoding=encoding)
            before_data()
            stage = "DATA"
            reply = await client.data(raw)
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as error:
            if stage == "DATA":
                await self._drop()
                raise self._answer_lost(error) from None
            raise _Stale(_one_line(str(error))) from None
        except aiosmtplib.SMTPResponseException as error:
            if error.code == 421 and stage != "DATA":  # RFC 5321 §3.8: the server is closing this connection
                raise _Stale(_reply(error.code, error.message)) from None
            await self._reset()
            raise self._failure(stage, error) from None
        except (aiosmtplib.SMTPException, OSError) as error:
            if stage == "DATA" and isinstance(error, TimeoutError):
                await self._drop()  # its late answer would be read as the next command's
                raise self._answer_lost(error) from None
            await self._reset()
            raise self._failure(stage, error) from None
        return _reply(reply.code, reply.message)

    def _answer_lost(self, error: OSError) -> SmtpAnswerLost:
        """The server may or may not have taken the letter: it is in doubt, and looked for in the Sent folder
        before it goes again (hub.delivery.in_doubt)."""
        what = "timed out" if isinstance(error, TimeoutError) else f"{type(error).__name__}: {_one_line(str(error))}"
        return SmtpAnswerLost(f"{self.name}: DATA: {what}, before the server answered; it may have taken the letter")

    async def _reset(self) -> None:
        """RSET after a refusal, so the next message starts a clean envelope on the same connection."""
        client = self._client
        if client is None or not client.is_connected:
            await self._drop()
            return
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            await self._drop()

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await _shut(client, client.transport)

    def _failure(self, stage: str, error: BaseException) -> HubError:
        """The hub error for what aiosmtplib raised: its class says whether to retry, and whether the
        server could be reached at all."""
        temporary = SmtpUnreachable if stage == "connect" else SmtpTemporaryError
        if isinstance(error, aiosmtplib.SMTPResponseException):
            code = error.code
            what = REFUSALS.get(stage, f"{stage} refused")
            message = f"{self.name}: {what}: {_reply(code, error.message)}"
            if 500 <= code < 600 and code not in TEMPORARY_5XX:
                return SmtpPermanentError(message, code)
            return temporary(message, code)
        tls = _ssl_error(error)
        if tls is not None:
            return temporary(f"{self.name}: TLS handshake failed: {_one_line(str(tls))}")
        where = "cannot connect" if stage == "connect" else stage
        if isinstance(error, TimeoutError):
            return temporary(f"{self.name}: {where}: timed out: {_one_line(str(error))}")
        return temporary(f"{self.name}: {where}: {type(error).__name__}: {_one_line(str(error))}")


async def _shut(client: aiosmtplib.SMTP, transport: asyncio.BaseTransport | None) -> None:
    """Close at once. A TLS transport's plain close() waits for the server's close_notify and leaves
    the socket open if the event loop ends first; nothing more is to be said, so abort it, and let
    the loop run once so the socket is really closed."""
    client.close()
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    await asyncio.sleep(0)


def _ssl_error(error: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_REPLY_TEXT else line[:MAX_REPLY_TEXT] + "…"


def _reply(code: int, text: str) -> str:
    return _one_line(f"{code} {text}")
