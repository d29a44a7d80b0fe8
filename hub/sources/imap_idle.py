"""Watches an IMAP mailbox with IDLE (RFC 2177) and says the moment new mail arrives.

One thread holds a connection of its own in IDLE on the mailbox (EXAMINE: it never changes anything)
and calls `wake` when the server reports EXISTS; the drain runs elsewhere, on its own connection. IDLE
is re-issued every few minutes, as RFC 2177 asks of clients (servers may log out a client idle for 30),
which also finds a connection that died without a word. A lost connection is made again with growing
pauses, and the inbox woken once it is back, for the mail that came meanwhile.

A connection logged in with an OAuth 2.0 token is made again with a new token shortly before its token
expires (Microsoft 365 ends a session whose token has expired), and the inbox is woken then too, so
mail that came between the two connections is read.

The connection is held only while `wanted` says so (the daemon: while this process holds the inbox's lease):
a process that leaves the mailbox to another keeps no connection to it, as Microsoft 365 and Gmail cap an
account's connections, and takes up IDLE within a tick of taking the mailbox over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from hub.core import redact
from hub.core.errors import ConfigError, TemporaryError
from hub.oauth2.source import TokenSource
from hub.sources.backoff import Backoff, one_line
from hub.sources.imap import ImapAddress, connect_and_log_in

log = logging.getLogger(__name__)
RENEW_SECONDS = 5 * 60.0
TICK_SECONDS = 1.0  # how long one wait for the server lasts: how soon a stop is noticed
CONNECT_TIMEOUT = 30.0


class IdleWatcher:
    """`state` is "connecting", then "idle", "no-idle" (the server offers no IDLE: the thread ends),
    "unreachable" (retrying), "standby" (not `wanted` now: no connection) or "refused" (a configuration
    error, handed to `on_fatal`)."""

    def __init__(self, address: ImapAddress, password: str | None, wake: Callable[[], None],
                 on_fatal: Callable[[ConfigError], None], renew_seconds: float = RENEW_SECONDS,
                 tokens: TokenSource | None = None, wanted: Callable[[], bool] = lambda: True) -> None:
        self.address = address
        self.password = password
        self.tokens = tokens
        self.logins = 0  # successful logins, for tests
        self.wake = wake
        self.on_fatal = on_fatal
        self.renew_seconds = renew_seconds
        self.wanted = wanted
        self.state = "connecting"
        self.ready = threading.Event()  # set once the first attempt to connect has an outcome
        self._stopping = threading.Event()
        # A daemon thread: a server that stops answering mid-command must not keep the process alive.
        # Named after the thread that starts it: a deployment's logs tell its office by that (hub.run.offices).
        self._thread = threading.Thread(target=self._run, name=f"{threading.current_thread().name} imap-idle",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Leave IDLE, log out, and wait up to `timeout` seconds for that."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = Backoff()
        connected_before = renewing = standby = False
        while not self._stopping.is_set():
            if not self.wanted():
                if not standby:
                    log.debug("%s: another process reads the mailbox: no IDLE here", self.address.name)
                standby = True
                self._set("standby")
                self._stopping.wait(TICK_SECONDS)
                continue
            try:
                client, login = connect_and_log_in(self.address, self.password, CONNECT_TIMEOUT, self.tokens)
                self.logins += 1
            except ConfigError as error:
                self._set("refused")
                self.on_fatal(error)
                return
            except TemporaryError as error:
                self._pause(backoff, error)
                continue
            try:
                if b"IDLE" not in client.capabilities():
                    log.info("%s: the server offers no IDLE; the inbox is polled instead", self.address.name)
                    self._set("no-idle")
                    _close(client, logout=True)
                    return
                client.select_folder(self.address.mailbox, readonly=True)
                self._set("idle")
                if standby:  # mail that came since the takeover's drain and before this IDLE is read too
                    log.info("%s: this process reads the mailbox now: watching it for new mail", self.address.name)
                    self.wake()
                elif connected_before or backoff.failures:
                    if not renewing:
                        log.info("%s: watching for new mail again", self.address.name)
                    self.wake()
                standby = False
                backoff.reset()
                connected_before = True
                renewing = self._idle(client, login.token.refresh_at if login.token else None)
                _close(client, logout=True)
                if renewing:
                    log.info("%s: the access token is due for renewal: logging in again", self.address.name)
            except (OSError, IMAPClientError) as error:
                _close(client, logout=False)  # a connection that failed may not answer a LOGOUT either
                renewing = False
                self._pause(backoff, error)
        self._set("stopped")

    def _idle(self, client: IMAPClient, token_due: float | None) -> bool:
        """Wait in IDLE until asked to stop or no longer `wanted` (False) or until the login's token is due for
        renewal at `token_due` (time.time(); True); raise when the connection is lost."""
        client.idle()
        renewed = time.monotonic()
        while not self._stopping.is_set() and self.wanted():
            if token_due is not None and time.time() >= token_due:
                if _has_new_mail(client.idle_done()[1]):
                    self.wake()
                return True
            started = time.monotonic()
            responses = client.idle_check(timeout=TICK_SECONDS)
            # imapclient returns nothing, at once, when the server has closed the connection.
            if not responses and time.monotonic() - started < TICK_SECONDS / 2:
                raise ConnectionResetError("the server closed the connection")
            if any(response[:1] == (b"BYE",) for response in responses):
                raise ConnectionResetError("the server said BYE")
            if _has_new_mail(responses):
                self.wake()
            if time.monotonic() - renewed >= self.renew_seconds:
                if _has_new_mail(client.idle_done()[1]):
                    self.wake()
                client.idle()
                renewed = time.monotonic()
        client.idle_done()
        return False

    def _pause(self, backoff: Backoff, error: Exception) -> None:
        if self._stopping.is_set():
            return  # a connection cut short by the stop itself is no news
        pause = backoff.next_pause()
        reason = one_line(error).removeprefix(f"{self.address.name}: ")  # connect() names the mailbox too
        log.warning("%s: IDLE connection: %s; connecting again in %.0f s", self.address.name,
                    redact.addresses(reason), pause)
        self._set("unreachable")
        self._stopping.wait(pause)

    def _set(self, state: str) -> None:
        self.state = state
        self.ready.set()


def _has_new_mail(responses: list[tuple[object, ...]]) -> bool:
    return any(len(response) > 1 and response[1] == b"EXISTS" for response in responses)


def _close(client: IMAPClient, logout: bool) -> None:
    try:
        if logout:
            client.logout()
        else:
            client.shutdown()
    except (OSError, IMAPClientError):
        pass  # the connection is gone already; nothing is left to tidy
