"""An IMAP mailbox as an inbound source (imapclient).

Reads new mail by UID in batches, remembers UIDVALIDITY + the last UID done, and after each batch has
committed moves the messages to the Processed folder (or the Quarantine folder), creating them when
missing; a server without MOVE gets a keyword flag instead. A message another client moved away meanwhile
is done, not an error (the MOVE goes again for the rest). One hub process at a time reads a mailbox (the
inbox lease, hub.run.cycle): two processes' MOVEs of the same messages at once both succeed on Dovecot,
and leave two copies in the Processed folder. The next batch is fetched, and the last one
moved, in a thread while the caller files the current one.

The new messages' sizes (`RFC822.SIZE`, 2,000 to a command) come first: batches are bounded in bytes, a
message within [limits] max_message_bytes is fetched whole (`BODY.PEEK[]`), and of one over it only the
start of its header (`BODY.PEEK[HEADER]<0.N>`), for its quarantine item; the message itself moves to
the Quarantine folder.
"""

from __future__ import annotations

import contextlib
import logging
import re
import ssl
import threading
from array import array
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import islice
from urllib.parse import quote, unquote, urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hub.core.db import is_busy
from hub.core.errors import ConfigError, HubError, TemporaryError
from hub.core.models import SourceCursor
from hub.intake.drain import Item
from hub.intake.message import Oversized
from hub.oauth2.source import TokenSource
from hub.sources.imap_login import Login, log_in
from hub.sources.message_size import HEADER_BYTES, batched_by_size, is_oversized

log = logging.getLogger(__name__)
DONE_KEYWORD = "$HubProcessed"
QUARANTINE_KEYWORD = "$HubQuarantined"
LOOPBACK = ("127.0.0.1", "::1", "localhost")
# The first batch is small so that parsing and filing start while the rest is still on the wire.
FIRST_BATCH = 25
HEADER_PART = f"BODY.PEEK[HEADER]<0.{HEADER_BYTES}>"
# UIDs per FETCH of sizes: a command line of about 20 KB, within what servers accept (Dovecot: 64 KB).
SIZES_PER_COMMAND = 2000
GONE_TRIES = 3  # a MOVE refused because another client expunged some of its messages, tried again


# The server could not check the login (RFC 5530's UNAVAILABLE or SERVERBUG: its password database or auth
# service is down), or it is going away (Dovecot answers a LOGIN during its shutdown with "NO Shutting down"):
# no verdict on the password, so an outage to wait out, not a configuration to fix.
TEMPORARY_LOGIN_FAILURE = re.compile(r"\[(UNAVAILABLE|SERVERBUG)\]|temporary authentication failure|shutting down",
                                     re.IGNORECASE)


@dataclass(frozen=True)
class ImapAddress:
    secure: bool
    host: str
    port: int
    user: str
    mailbox: str

    @classmethod
    def parse(cls, url: str) -> ImapAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
            raise ConfigError(f"[inbox] url: expected imap://USER@HOST[:PORT]/MAILBOX, got {url!r}")
        secure = parts.scheme == "imaps"
        return cls(secure, parts.hostname, parts.port or (993 if secure else 143), unquote(parts.username),
                   unquote(parts.path.lstrip("/")) or "INBOX")

    @property
    def name(self) -> str:
        return f"imap:{self.user}@{self.host}:{self.port}/{self.mailbox}"

    def folder_url(self, folder: str) -> str:
        """The URL of another folder of the same account, password left out."""
        return f"imap{'s' if self.secure else ''}://{quote(self.user, safe='')}@{self.host}:{self.port}/{quote(folder)}"


def connect(address: ImapAddress, password: str | None, timeout: float = 60,
            tokens: TokenSource | None = None) -> IMAPClient:
    """A logged-in client: with the password, or with OAuth 2.0 tokens when `tokens` is given."""
    return connect_and_log_in(address, password, timeout, tokens)[0]


def connect_and_log_in(address: ImapAddress, password: str | None, timeout: float = 60,
                       tokens: TokenSource | None = None) -> tuple[IMAPClient, Login]:
    """A logged-in client and how it logged in. Plain-text login travels only under TLS, or over loopback."""
    if password is None and tokens is None:
        raise ConfigError("[inbox] password_env: the environment variable holding the IMAP password is not set")
    try:
        client = IMAPClient(address.host, port=address.port, ssl=address.secure, timeout=timeout)
        try:
            if not address.secure:
                if b"STARTTLS" in client.capabilities():
                    client.starttls(ssl.create_default_context())
                elif address.host not in LOOPBACK:
                    raise ConfigError(f"[inbox] url: {address.host} offers no STARTTLS; use imaps:// instead")
            return client, log_in(client, address, password, tokens)
        except BaseException:
            with contextlib.suppress(OSError, IMAPClientError):
                client.shutdown()
            raise
    except LoginError as error:
        raise login_failure(address, error) from None
    except (OSError, IMAPClientError) as error:
        raise TemporaryError(f"{address.name}: {type(error).__name__}: {error}") from None


def login_failure(address: ImapAddress, error: LoginError) -> HubError:
    """A refused password stops the daemon (ConfigError); a server that cannot check one for now is an outage."""
    if TEMPORARY_LOGIN_FAILURE.search(str(error)):
        return TemporaryError(f"{address.name}: the server cannot check the login for now: {error}")
    return ConfigError(f"[inbox] {address.name}: login refused for {address.user}")


class ImapSource:
    """An IMAP mailbox as a Source. Every command on the connection runs in one thread, in the order
    it was asked for, so the next batch is fetched and the last one moved while the caller files."""

    def __init__(self, client: IMAPClient, address: ImapAddress, sessions: sessionmaker[Session],
                 processed_folder: str, quarantine_folder: str, batch_size: int, max_message_bytes: int,
                 now: Callable[[], datetime]) -> None:
        self.client = client
        self.address = address
        self.name = address.name
        self.sessions = sessions
        self.processed_folder = processed_folder
        self.quarantine_folder = quarantine_folder
        self.batch_size = batch_size
        self.max_message_bytes = max_message_bytes
        self.now = now
        self.can_move = b"MOVE" in client.capabilities()
        self.validity = 0
        self._folders_made: set[str] = set()
        # Named after the caller's thread: a deployment's logs tell its office by that (hub.run.offices).
        self._conversation = ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix=f"{threading.current_thread().name} imap")
        self._acknowledgements: list[Future[None]] = []
        self._unsaved = 0  # the highest UID done whose position a busy database refused

    def batches(self) -> Iterator[list[Item]]:
        chunks = self._chunks(*self._conversation.submit(self._new_uids).result())
        chunk = next(chunks, None)
        ahead: Future[list[Item]] | None = None
        while chunk is not None:
            batch = ahead.result() if ahead is not None else self._conversation.submit(self._fetch, chunk).result()
            chunk = next(chunks, None)
            ahead = self._conversation.submit(self._fetch, chunk) if chunk is not None else None
            self._check_acknowledgements()
            if batch:
                yield batch

    def acknowledge(self, done: list[Hashable], quarantined: list[Hashable]) -> None:
        """Queue the move of a committed batch; it runs between fetches, and a failure surfaces at the
        next batch or at `close` (the messages then stay in the mailbox, and a later run finds them stored)."""
        self._acknowledgements.append(self._conversation.submit(self._acknowledge, list(done), list(quarantined)))

    def close(self) -> None:
        """Wait for the commands still queued; raise the first acknowledgement that failed."""
        self._conversation.shutdown(wait=True)
        self._check_acknowledgements()

    def _check_acknowledgements(self) -> None:
        finished = [future for future in self._acknowledgements if future.done()]
        self._acknowledgements = [future for future in self._acknowledgements if not future.done()]
        for future in finished:
            future.result()

    def _new_uids(self) -> tuple[array[int], array[int]]:
        """The UIDs not yet done, in order, and their sizes: as arrays, 16 bytes a message where a tuple
        each would hold about 120 for the whole drain (12 MB over a 100,000-message mailbox)."""
        selected = self.client.select_folder(self.address.mailbox)
        self.validity = int(selected[b"UIDVALIDITY"])
        position = self._position()
        criteria: list = ["UID", f"{position + 1}:*"]
        if not self.can_move:
            criteria += ["UNKEYWORD", DONE_KEYWORD, "UNKEYWORD", QUARANTINE_KEYWORD]
        # `n:*` always matches the newest message, even below n (RFC 3501 §6.4.8): filter.
        uids = sorted(uid for uid in self.client.search(criteria) if uid > position)
        found, sizes = array("Q"), array("Q")
        for start in range(0, len(uids), SIZES_PER_COMMAND):
            part = uids[start:start + SIZES_PER_COMMAND]
            fetched = self.client.fetch(part, ["RFC822.SIZE"])
            for uid in part:
                if b"RFC822.SIZE" in (data := fetched.get(uid, {})):  # not there: expunged meanwhile
                    found.append(uid)
                    sizes.append(int(data[b"RFC822.SIZE"]))
        return found, sizes

    def _chunks(self, uids: array[int], sizes: array[int]) -> Iterator[list[tuple[int, int]]]:
        """The messages to fetch in batches, made as they are needed; the first one small, so that parsing
        and filing start while the rest is still on the wire."""
        sized = zip(uids, sizes, strict=True)
        first = min(FIRST_BATCH, self.batch_size)
        for part, most in ((islice(sized, first), first), (sized, self.batch_size)):
            yield from batched_by_size(part, lambda entry: entry[1], most, self.max_message_bytes)

    def _fetch(self, batch: list[tuple[int, int]]) -> list[Item]:
        oversized = {uid: size for uid, size in batch if is_oversized(size, self.max_message_bytes)}
        whole = [uid for uid, _ in batch if uid not in oversized]
        bodies = self.client.fetch(whole, ["BODY.PEEK[]"]) if whole else {}
        headers = self.client.fetch(list(oversized), [HEADER_PART]) if oversized else {}
        items = []
        for uid, size in batch:  # a message expunged meanwhile by another client is not in the answer
            source = f"{self.name}#{self.validity}:{uid}"
            if uid in oversized:
                header = _header_part(headers.get(uid, {}))
                if header is not None:
                    items.append(Item(uid, header, source, Oversized(size, self._quarantined_at())))
            elif b"BODY[]" in bodies.get(uid, {}):
                items.append(Item(uid, bodies[uid][b"BODY[]"], source))
        return items

    def _quarantined_at(self) -> str:
        """Where a quarantined message is once acknowledged."""
        if self.can_move:
            return self.address.folder_url(self.quarantine_folder)
        return f"{self.address.folder_url(self.address.mailbox)}, flagged {QUARANTINE_KEYWORD}"

    def _acknowledge(self, done: list[Hashable], quarantined: list[Hashable]) -> None:
        for keys, folder, keyword in ((done, self.processed_folder, DONE_KEYWORD),
                                      (quarantined, self.quarantine_folder, QUARANTINE_KEYWORD)):
            if not keys:
                continue
            if self.can_move:
                self._ensure_folder(folder)
                self._again_if_gone(partial(self.client.move, keys, folder), folder)
            else:
                self._again_if_gone(partial(self.client.add_flags, keys, [keyword]), keyword)
        self._save_position(max(int(str(k)) for k in (*done, *quarantined)))

    def _again_if_gone(self, command: Callable[[], object], where: str) -> None:
        """`command` on a set of UIDs, once more after `NO [EXPUNGEISSUED]` (RFC 5530): some of them were
        moved or deleted meanwhile by another client. Dovecot then moves none of them and tells this session
        which are gone; the same UID set again moves the rest, as a UID set ignores UIDs no longer there. A
        message already gone counts as done: it was filed here before this move (a copy that another
        process filed too is a duplicate by its Message-ID)."""
        for attempt in range(1, GONE_TRIES + 1):
            try:
                command()
                return
            except IMAPClientError as error:
                if "EXPUNGEISSUED" not in str(error).upper() or attempt == GONE_TRIES:
                    raise
                log.info("%s: some of the messages done were gone from the mailbox (moved by another client); "
                         "the rest go to %s", self.name, where)

    def _ensure_folder(self, folder: str) -> None:
        if folder in self._folders_made:
            return
        if not self.client.folder_exists(folder):
            self.client.create_folder(folder)
            log.info("%s: created folder %s", self.name, folder)
        self._folders_made.add(folder)

    def _position(self) -> int:
        with self.sessions.begin() as session:
            cursor = session.scalar(select(SourceCursor).where(SourceCursor.source == self.name))
            if cursor is None or cursor.validity != self.validity:
                return 0  # a new UIDVALIDITY renumbers the mailbox: start over, duplicates are caught
            return cursor.position

    def _save_position(self, uid: int) -> None:
        """Where the next run's search starts. On SQLite it is written from this thread while intake files the
        next batch, a commit a message, and a loaded machine can keep this writer waiting past the lock's
        timeout: the messages are moved already and no search finds them again, so the position waits for
        the next batch's and the drain goes on."""
        self._unsaved = max(self._unsaved, uid)
        try:
            with self.sessions.begin() as session:
                cursor = session.scalar(select(SourceCursor).where(SourceCursor.source == self.name))
                if cursor is None:
                    cursor = SourceCursor(source=self.name, position=0)
                    session.add(cursor)
                if cursor.validity != self.validity:
                    cursor.validity, cursor.position = self.validity, 0
                cursor.position = max(cursor.position, self._unsaved)
                cursor.last_success_at = self.now()
                cursor.last_error = ""
        except OperationalError as error:
            if not is_busy(error):
                raise
            log.warning("%s: the mailbox position was not saved (the database stayed busy); the next batch "
                        "saves it", self.name)
            return
        self._unsaved = 0


def _header_part(fetched: dict[bytes, object]) -> bytes | None:
    """The header part of a FETCH answer: servers name it `BODY[HEADER]<0>` (RFC 3501 §7.4.2)."""
    for key, value in fetched.items():
        if key.startswith(b"BODY[HEADER]") and isinstance(value, bytes):
            return value
    return None
