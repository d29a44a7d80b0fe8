"""The hub's log output: one handler on stderr whose every line, tracebacks included, is redacted.

Redacting in the handler rather than in each call means no log call can leak, whatever it passes:
an exception's text (a database error quoting the row, a parser quoting a header) reaches the log
only through here. The parse worker processes install the same handler.

Three shapes: text for a terminal; under systemd (stderr is the journal's stream, `$JOURNAL_STREAM`)
each line starts with its syslog priority, `<4>` for a warning, which journald reads so that
`journalctl -p warning` finds it (it stamps the time itself); `--log-format json`, one object a line for
log shippers.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import IO, Literal, TypeAlias

from hub.core import redact

ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]
Style: TypeAlias = Literal["text", "json"]
STYLES: tuple[Style, ...] = ("text", "json")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"
# syslog(3) priorities, as sd-daemon(3) prefixes them
PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}
OFFICE_THREAD = "office "  # a deployment's office threads are named "office NAME", its jobs' "office NAME job_N"


class RedactingFormatter(logging.Formatter):
    """Every formatted line through `redact.log_text`; the traceback it caches on the record too, so a
    second handler that reuses it gets the redacted text."""

    def format(self, record: logging.LogRecord) -> str:
        return redact.log_text(super().format(record))

    def formatException(self, ei: ExcInfo) -> str:
        return redact.log_text(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact.log_text(super().formatStack(stack_info))


class JournalFormatter(RedactingFormatter):
    """Each line of a record (a traceback's too) with the record's priority, so none reads as info."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


class JsonFormatter(RedactingFormatter):
    """One JSON object a record: time (UTC, ISO 8601), level, logger, message, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name,
                 "message": redact.log_text(record.getMessage())}
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def _priority(level: int) -> int:
    return next((priority for floor, priority in sorted(PRIORITIES.items(), reverse=True) if level >= floor), 7)


def private_handler(stream: IO[str], style: Style = "text") -> logging.Handler:
    handler = logging.StreamHandler(stream)
    if style == "json":
        handler.setFormatter(JsonFormatter())
    elif under_journal(stream):
        handler.setFormatter(JournalFormatter(JOURNAL_FORMAT))
    else:
        handler.setFormatter(RedactingFormatter(FORMAT))
    return handler


def under_journal(stream: IO[str]) -> bool:
    """Whether `stream` is the journal's: systemd names the stream it connected in `$JOURNAL_STREAM`."""
    device, _, inode = os.environ.get("JOURNAL_STREAM", "").partition(":")
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test's StringIO)
        return False
    return f"{status.st_dev}:{status.st_ino}" == f"{device}:{inode}"


_style: Style = "text"


def configure(level: int, style: Style | None = None) -> None:
    """The root logger at `level` (INFO with -v, else WARNING), writing to stderr through the redaction, as
    text (journal lines under systemd) or JSON."""
    global _style
    _style = style or _style
    logging.basicConfig(level=level, handlers=[private_handler(sys.stderr, _style)])
    # mail-parser warns about every MIME part it does not render (e.g. text/rfc822-headers in each
    # bounce); the hub keeps the raw message whole, so that is not news at WARNING.
    logging.getLogger("mailparser").setLevel(logging.INFO if level <= logging.INFO else logging.ERROR)
    # Alembic names each plugin it loads whenever the migrations are read (to tell an older schema from a newer
    # one): seven lines of no use to anyone, before the one that says what to do.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def current_style() -> Style:
    """The shape chosen for this process, for the worker processes it starts."""
    return _style


def thread_office() -> str:
    """The office whose thread this is, in a deployment (hub.run.offices); "" in a single office's process."""
    name = threading.current_thread().name
    return name[len(OFFICE_THREAD):].split(" ")[0] if name.startswith(OFFICE_THREAD) else ""


def office_thread_prefix() -> str:
    """"office NAME " for a thread started by an office's thread (so that its lines name the office), else ""."""
    office = thread_office()
    return f"{OFFICE_THREAD}{office} " if office else ""


def name_offices(office: str = "") -> Callable[[], None]:
    """From now on every log record starts with its office's name: `office`'s when given (a parse worker
    process, which works for one office), else that of the office whose thread makes it (by the thread's
    name: a job's worker thread knows no more of its office than that). Returns what undoes it."""
    making = logging.getLogRecordFactory()

    def make(*args: object, **kwargs: object) -> logging.LogRecord:
        record = making(*args, **kwargs)
        name = office or thread_office()
        if name and isinstance(record.msg, str):
            record.msg = f"{name}: {record.msg}"
        return record
    logging.setLogRecordFactory(make)
    return lambda: logging.setLogRecordFactory(making)


@contextmanager
def office_names_in_logs() -> Iterator[None]:
    """name_offices() for the block: every record made in an office's threads starts with the office's name."""
    undo = name_offices()
    try:
        yield
    finally:
        undo()
