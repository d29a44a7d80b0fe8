"""A real SMTP server (aiosmtpd) on a free loopback port that captures what it is sent, for the test suite.

It speaks plain SMTP, STARTTLS or implicit TLS with a certificate from a throwaway CA (trustme; its PEM
is ``server.ca_file``, for ``[outbound] ca_file``), optionally with AUTH PLAIN/LOGIN for one user, and
lets a test make it fail on purpose: refuse the next messages or a recipient, drop its connections,
stop and start again on the same port. Like Microsoft 365 and Gmail, it can file each message it accepts
in a Sent folder (`file_sent_mail`: an IMAP APPEND to a private Dovecot before its 250). Nothing
system-wide is touched: the CA file lives in a temporary folder that ``close()`` removes.

Typical use in a test::

    with running_smtp(tls="starttls", auth=("hub", "secret")) as server:
        ... hub config: url = server.url(), ca_file = server.ca_file, password "secret" ...
        assert [m.rcpt_tos for m in server.messages] == [("pat@example.com",)]
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import functools
import shutil
import socket
import ssl
import tempfile
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from imapclient import IMAPClient

if TYPE_CHECKING:
    from tests.servers.dovecot import DovecotServer

HOST = "127.0.0.1"
SERVER_NAME = "smtp.hub.test"
STOP_TIMEOUT = 10.0
Tls = Literal["none", "starttls", "implicit"]


@dataclass(frozen=True)
class CapturedMessage:
    """One message as the server received it: the envelope, the bytes after DATA, and their parse."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    peer: tuple[str, int]  # the client's address and port: one per connection
    tls: bool  # the message travelled under TLS (STARTTLS or implicit)
    login: str | None  # the AUTH user, None without AUTH

    @functools.cached_property
    def message(self) -> EmailMessage:
        # Parsed when first asked, not before the server answers DATA: the parse takes half a millisecond,
        # which a client killed after its final dot would spend with its letter accepted but unmarked.
        return cast(EmailMessage, email.message_from_bytes(self.raw, policy=email.policy.default))

    @property
    def message_id(self) -> str:
        return str(self.message.get("Message-ID", "")).strip()


@functools.cache
def _certificate_authority() -> tuple[trustme.CA, trustme.LeafCert]:
    """One throwaway CA and server certificate per test process (making keys takes a moment)."""
    authority = trustme.CA()
    return authority, authority.issue_cert(HOST, "localhost", SERVER_NAME)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class SentFiler:
    """Files messages into one IMAP folder, over one connection kept open (made again after a failure)."""

    def __init__(self, server: DovecotServer, folder: str) -> None:
        self.server = server
        self.folder = folder
        self._client: IMAPClient | None = None

    def __call__(self, raw: bytes) -> None:
        try:
            if self._client is None:
                client = IMAPClient(self.server.host, self.server.port, ssl=False, timeout=STOP_TIMEOUT)
                client.login(self.server.user, self.server.password)
                self._client = client
            self._client.append(self.folder, raw, flags=[b"\\Seen"])
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.logout()


class _Handler:
    """aiosmtpd handler hooks; they run in the server's thread and report to the SmtpServer."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_MAIL(self, smtp: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if (self.server.auth is not None or self.server.oauth2 is not None) and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, smtp: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        refusal = self.server._refusal(address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        captured = CapturedMessage(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=raw,
            peer=cast(tuple[str, int], tuple(cast(Any, session.peer)[:2])),
            tls=session.ssl is not None or self.server.tls == "implicit",
            login=login,
        )
        answer = self.server._receive(captured)
        if answer.startswith("250") and self.server._answer_lost() and smtp.transport is not None:
            smtp.transport.abort()  # taken, but the client never hears so
        return answer

    def authenticate(self, smtp: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        expected = self.server.auth
        ok = (expected is not None and isinstance(auth_data, LoginPassword)
              and (auth_data.login, auth_data.password) == (expected[0].encode(), expected[1].encode()))
        if ok:
            return AuthResult(success=True, auth_data=auth_data)
        # handled=False: aiosmtpd answers "535 5.7.8 Authentication credentials invalid" itself.
        return AuthResult(success=False, handled=False)


def oauth_handler(server: SmtpServer) -> _Handler:
    from tests.servers.smtp_oauth import OAuthHandler  # here: it builds on _Handler

    return OAuthHandler(server)


class _TrackedSMTP(SMTP):
    """aiosmtpd's SMTP protocol, registering each open connection with its server."""

    def __init__(self, owner: SmtpServer, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        starting = self.transport is None  # not the second call that STARTTLS makes
        super().connection_made(transport)
        if starting:
            with self.owner._lock:
                self.owner._open.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        with self.owner._lock:
            self.owner._open.discard(self)
        super().connection_lost(error)


class _Controller(Controller):
    def __init__(self, owner: SmtpServer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.owner = owner

    def factory(self) -> SMTP:
        return _TrackedSMTP(self.owner, self.handler, **self.SMTP_kwargs)


class SmtpServer:
    """One aiosmtpd instance on loopback; ``stop()``/``start()`` keep the same port and what it captured."""

    def __init__(self, tls: Tls = "none", auth: tuple[str, str] | None = None, root: Path | None = None,
                 port: int | None = None, oauth2: Callable[[str, str], bool] | None = None,
                 oauthbearer: bool = False) -> None:
        if tls not in ("none", "starttls", "implicit"):
            raise ValueError(f"tls must be 'none', 'starttls' or 'implicit', not {tls!r}")
        self.host = HOST
        self.port = port or _free_port()
        self.tls: Tls = tls
        self.auth = auth
        self.oauth2 = oauth2  # (user, token) -> accepted; None: no OAuth 2.0 mechanisms
        self.oauthbearer = oauthbearer  # offer OAUTHBEARER besides XOAUTH2 (Gmail does, Microsoft 365 not)
        self.oauth_logins: list[tuple[str, str, str]] = []  # (mechanism, user, token) of every attempt
        self._remove_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="hub-smtp-")) if root is None else Path(root)
        self.ca_file: Path | None = None
        self._context: ssl.SSLContext | None = None
        if tls != "none":
            authority, certificate = _certificate_authority()
            self.root.mkdir(parents=True, exist_ok=True)
            self.ca_file = self.root / "ca.pem"
            authority.cert_pem.write_to_path(str(self.ca_file))
            self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            certificate.configure_cert(self._context)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._messages: list[CapturedMessage] = []
        self._rejected: list[CapturedMessage] = []
        self._failures: list[str] = []  # replies for the next DATA commands, in order
        self._answers_to_lose = 0  # the next messages taken whose 250 the connection loses
        self._refused: dict[str, str] = {}  # lower-cased recipient -> reply
        self._on_data: Callable[[CapturedMessage], object] | None = None
        self._filer: SentFiler | None = None
        self._open: set[SMTP] = set()
        self._controller: _Controller | None = None

    # --- what the server received -------------------------------------------------------------

    @property
    def messages(self) -> list[CapturedMessage]:
        """A copy of the messages accepted so far, in order of arrival."""
        with self._lock:
            return list(self._messages)

    @property
    def rejected(self) -> list[CapturedMessage]:
        """The messages answered with an injected failure (`fail_next`) or not taken by `on_data`."""
        with self._lock:
            return list(self._rejected)

    def by_message_id(self) -> dict[str, list[CapturedMessage]]:
        """Accepted messages by their Message-ID header (a list, so a duplicate shows as two)."""
        grouped: dict[str, list[CapturedMessage]] = {}
        for message in self.messages:
            grouped.setdefault(message.message_id, []).append(message)
        return grouped

    def sent_to(self, address: str) -> list[CapturedMessage]:
        """The accepted messages whose envelope names `address`, in order of arrival."""
        return [message for message in self.messages if address in message.rcpt_tos]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[CapturedMessage]:
        """Block until at least `count` messages were accepted; AssertionError after `timeout` seconds."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._messages) >= count, timeout):
                raise AssertionError(f"{len(self._messages)} messages arrived within {timeout} s, expected {count}")
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._rejected.clear()

    # --- failures on purpose ------------------------------------------------------------------

    def fail_next(self, count: int = 1, code: int = 451, text: str = "4.3.0 Try again later") -> None:
        """Answer the next `count` messages' DATA with `code text` instead of accepting them."""
        with self._lock:
            self._failures.extend([f"{code} {text}"] * count)

    def lose_answers(self, count: int = 1) -> None:
        """Take the next `count` messages (keep them, file them in Sent) and break the connection before their 250
        reaches the client, as a reset or a firewall's idle cut can."""
        with self._lock:
            self._answers_to_lose += count

    def refuse_recipient(self, address: str, code: int = 550, text: str = "5.1.1 No such user") -> None:
        """Answer RCPT TO for `address` (any case) with `code text`, until `accept_recipient`."""
        with self._lock:
            self._refused[address.lower()] = f"{code} {text}"

    def accept_recipient(self, address: str) -> None:
        with self._lock:
            self._refused.pop(address.lower(), None)

    def on_data(self, callback: Callable[[CapturedMessage], object] | None) -> None:
        """Call `callback(message)` in the server's thread for every message that reaches the end of
        DATA, before it is accepted or refused (None removes it). If it raises, the message is answered
        451 and not kept."""
        with self._lock:
            self._on_data = callback

    def file_sent_mail(self, server: DovecotServer | None, folder: str = "Sent Items") -> None:
        """File each message accepted from now on in `folder` of `server`'s user (None: stop), before the 250,
        as Microsoft 365 and Gmail file what an account submits in its Sent folder. A failed APPEND
        answers 451 and keeps nothing."""
        with self._lock:
            filer, self._filer = self._filer, SentFiler(server, folder) if server is not None else None
        if filer is not None:
            filer.close()

    def drop_connections(self) -> None:
        """Close every open client connection from the server's side, as an idle timeout would; the
        sockets are closed when this returns."""
        controller = self._controller
        if controller is None:
            return
        closed = threading.Event()

        def close_all() -> None:
            with self._lock:
                connections, self._open = list(self._open), set()
            for connection in connections:
                # Both layers: a connection whose STARTTLS handshake failed never hears connection_lost
                # from its TLS layer, and only its plain transport is left to close.
                for transport in (connection.transport, getattr(connection, "_original_transport", None)):
                    if transport is not None:
                        cast(asyncio.Transport, transport).abort()
            controller.loop.call_soon(closed.set)  # after the callbacks that close the sockets

        controller.loop.call_soon_threadsafe(close_all)
        if not closed.wait(STOP_TIMEOUT):
            raise RuntimeError("the SMTP server did not close its connections")

    # --- life cycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._controller is not None

    def url(self, user: str | None = None) -> str:
        """The ``[outbound] url`` for this server. `user` defaults to the AUTH user when the server has
        one; ``url("")`` leaves the user out. The password is never part of it."""
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        if user is None and self.auth is not None:
            user = self.auth[0]
        login = f"{urllib.parse.quote(user, safe='')}@" if user else ""
        return f"{scheme}://{login}{self.host}:{self.port}"

    def start(self) -> None:
        """(Re)start listening on the same port; returns once the server answers."""
        if self._controller is not None:
            return
        kwargs: dict[str, Any] = {
            "handler": _Handler(self) if self.oauth2 is None else oauth_handler(self),
            "hostname": self.host,
            "port": self.port,
            "server_hostname": SERVER_NAME,
            "ready_timeout": STOP_TIMEOUT,
        }
        if self.tls == "implicit":
            kwargs["ssl_context"] = self._context
        elif self.tls == "starttls":
            kwargs["tls_context"] = self._context
            kwargs["require_starttls"] = True
        if self.oauth2 is not None:
            kwargs["auth_require_tls"] = self.tls == "starttls"
            kwargs["auth_exclude_mechanism"] = ["LOGIN", "PLAIN"] + ([] if self.oauthbearer else ["OAUTHBEARER"])
        if self.auth is not None:
            kwargs["authenticator"] = kwargs["handler"].authenticate
            # AUTH over plain text only when the test asked for a server without TLS. aiosmtpd counts
            # only STARTTLS as TLS, so implicit TLS needs the check off too.
            kwargs["auth_require_tls"] = self.tls == "starttls"
        controller = _Controller(self, **kwargs)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening and close every connection (idempotent); what was captured stays."""
        if self._controller is None:
            return
        self.drop_connections()
        controller, self._controller = self._controller, None
        controller.stop()

    def close(self) -> None:
        """Stop the server and remove its temporary folder (when this module made it)."""
        self.stop()
        self.file_sent_mail(None)
        if self._remove_root:
            shutil.rmtree(self.root, ignore_errors=True)

    # --- called by the handler, in the server's thread ----------------------------------------

    def _answer_lost(self) -> bool:
        with self._lock:
            lost, self._answers_to_lose = self._answers_to_lose > 0, max(self._answers_to_lose - 1, 0)
        return lost

    def _refusal(self, address: str) -> str | None:
        with self._lock:
            return self._refused.get(address.lower())

    def _receive(self, captured: CapturedMessage) -> str:
        with self._lock:
            callback = self._on_data
        failure = None
        if callback is not None:
            try:
                callback(captured)
            except Exception as error:  # the test's hook failed: refuse for now, keep nothing
                failure = f"451 4.3.0 on_data hook failed: {type(error).__name__}"
        with self._lock:
            if failure is None and self._failures:
                failure = self._failures.pop(0)
            filer = self._filer
        if failure is None and filer is not None:
            try:
                filer(captured.raw)
            except Exception as error:
                failure = f"451 4.3.0 could not file the message in the Sent folder: {type(error).__name__}"
        with self._arrived:
            if failure is not None:
                self._rejected.append(captured)
                return failure
            self._messages.append(captured)
            number = len(self._messages)
            self._arrived.notify_all()
        return f"250 2.0.0 Ok: queued as {number:05X}"


def start_smtp(tls: Tls = "none", auth: tuple[str, str] | None = None, root: Path | None = None,
               **options: Any) -> SmtpServer:
    """Start an SMTP server on a free loopback port (see `SmtpServer`); the caller closes it."""
    for attempt in range(3):
        server = SmtpServer(tls, auth, root, **options)
        try:
            server.start()
            return server
        except OSError:  # another process took the free port before aiosmtpd bound it
            server.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def running_smtp(tls: Tls = "none", auth: tuple[str, str] | None = None,
                 root: Path | None = None, **options: Any) -> Iterator[SmtpServer]:
    """Start an SMTP server, yield it, and always stop it and remove its temporary files. `oauth2` (a check
    of user and token) offers XOAUTH2, and OAUTHBEARER with `oauthbearer=True`."""
    server = start_smtp(tls, auth, root, **options)
    try:
        yield server
    finally:
        server.close()
