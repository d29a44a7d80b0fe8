"""The sent journal: the server's acceptance of a message, appended to a local file before the database's mark.

A crash between the server's final reply and the sent mark's commit sends the message again. On SQLite
most of that window is the mark's commit itself (the row, its indexes and the WAL: a fifth of a
millisecond), so, as mail servers do with their queue files, the acceptance is first written to
`var/sent-journal`: one write() of one line (the outbox row, when it went, the provider's id), then
the mark commits as before (hub.delivery.sent_record). There is no fsync: the lines of a process that is
killed, even with SIGKILL, are in the page cache and reach the disk; a crash of the machine can lose
the last ones, and then those messages may go twice, as without the journal, but are never lost.

Every delivery pass, and `hub run` at its start, first reads the journal (`journal_lines`); the caller
marks the rows that are still waiting to go. The journal is emptied afterwards by a pass that holds it
alone: each sending process holds a shared lock on it from before its send until its mark has
committed, and the pass takes the exclusive lock without waiting. When another process is sending,
the lines are read and marked all the same (marking is idempotent) and a later pass empties the file.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hub.core.config import Config
from hub.core.private_files import FILE_MODE, make_folder

log = logging.getLogger(__name__)

JOURNAL = "var/sent-journal"
MAX_PROVIDER = 998  # as the mark keeps it
_LINE = re.compile(rb"(\d{1,18}) (\S+) ([^\n]*)")


def _open_for_lines(path: Path) -> int:
    """The journal's descriptor for appending; its folder made first only when it is missing (a letter's own
    check of the folder cost as much as the rest of the journal's work)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:
        return os.open(path, flags, FILE_MODE)
    except FileNotFoundError:
        make_folder(path.parent)
        return os.open(path, flags, FILE_MODE)


@dataclass(frozen=True)
class Accepted:
    """One journal line: the server accepted outbox row `row_id` at `at`, answering `provider`."""

    row_id: int
    at: datetime
    provider: str


def journal_path(config: Config) -> Path:
    return config.resolve(JOURNAL)


class SentJournal:
    """The journal as one message's sender holds it: opened and share-locked before the send, one line
    written right after the server's acceptance, closed (unlocked) once the mark has committed.

        journal = SentJournal(path, row_id, at)
        journal.open()
        try:
            reply = await send(...)
            journal.write(reply)
            ... the mark's commit ...
        finally:
            journal.close()

    A journal that cannot be opened or written is logged and left out: the mark alone still keeps the
    message from going twice, as it did before the journal.
    """

    def __init__(self, path: Path, row_id: int, at: datetime) -> None:
        self.path = path
        self.row_id = row_id
        self._start = f"{row_id} {at.isoformat()} ".encode("ascii")  # made before the send, as the mark's statement
        self._descriptor: int | None = None

    def open(self) -> None:
        descriptor = None
        try:
            descriptor = _open_for_lines(self.path)
            os.fchmod(descriptor, FILE_MODE)  # a file that was there keeps its old mode through O_CREAT
            fcntl.flock(descriptor, fcntl.LOCK_SH)  # waits only while a pass empties the journal
        except OSError as error:
            if descriptor is not None:
                os.close(descriptor)
            log.warning("sent journal %s cannot be used, sending without it: %s", self.path, error.strerror)
            return
        self._descriptor = descriptor

    def write(self, provider: str) -> None:
        """The acceptance, in one write() with O_APPEND: whole, after every other process's lines."""
        if self._descriptor is None:
            return
        line = self._start + provider[:MAX_PROVIDER].replace("\n", " ").encode("utf-8", "backslashreplace") + b"\n"
        try:
            written = os.write(self._descriptor, line)
            if written < len(line):  # a full disk: end the torn line, so that it does not swallow the next
                os.write(self._descriptor, b"\n")
        except OSError as error:
            log.warning("sent journal %s: outbox %d not written: %s", self.path, self.row_id, error.strerror)
            return
        if written < len(line):
            log.warning("sent journal %s: outbox %d written in part (%d of %d bytes)", self.path, self.row_id,
                        written, len(line))

    def close(self) -> None:
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            os.close(descriptor)  # and with it the lock


@contextmanager
def journal_lines(path: Path) -> Iterator[list[Accepted]]:
    """The journal's readable lines, first per row. The caller brings them into the database inside the
    `with`; when it ends without an exception and no other process held the journal, the journal is
    emptied."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as error:
        if not isinstance(error, FileNotFoundError):  # the senders said so too; delivery goes on
            log.warning("sent journal %s cannot be read: %s", path, error.strerror)
        yield []
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except OSError:  # a process is sending (BlockingIOError): its line may come after this read
            alone = False
        data = _read_all(descriptor)
        yield _parse(path, data, alone)
        if alone and data:
            os.ftruncate(descriptor, 0)  # the writers append (O_APPEND): their next line starts the file
    finally:
        os.close(descriptor)


def _read_all(descriptor: int) -> bytes:
    chunks = []
    while chunk := os.read(descriptor, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(path: Path, data: bytes, alone: bool) -> list[Accepted]:
    *lines, tail = data.split(b"\n")
    if tail and alone:  # with the lock held nobody is writing: a write cut short (a full disk, a machine crash)
        log.warning("sent journal %s: an incomplete last line (%d bytes) is ignored", path, len(tail))
    found: dict[int, Accepted] = {}
    for number, line in enumerate(lines, 1):
        accepted = _accepted(line)
        if accepted is None:
            log.warning("sent journal %s: line %d is unreadable (%d bytes) and is skipped", path, number, len(line))
        elif accepted.row_id not in found:  # the first acceptance is when it went
            found[accepted.row_id] = accepted
    return list(found.values())


def _accepted(line: bytes) -> Accepted | None:
    match = _LINE.fullmatch(line)
    if match is None:
        return None
    try:
        at = datetime.fromisoformat(match[2].decode("ascii"))
        provider = match[3].decode("utf-8")
    except ValueError:  # UnicodeDecodeError included
        return None
    if at.tzinfo is None:
        return None
    return Accepted(int(match[1]), at, provider)
