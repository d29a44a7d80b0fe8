"""Retrying what failed for now: which failures are temporary, growing pauses between attempts, and a
one-line description of a failure that is safe to log.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from imapclient.exceptions import IMAPClientError
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from hub.core.errors import HubError, TemporaryError

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 300.0
# A server or database that went away: IMAP (imaplib's errors and aborts), sockets (OSError covers
# ConnectionError, TimeoutError and name lookups), SMTP and Twilio (TemporaryError), the database.
TEMPORARY = (TemporaryError, OperationalError, InterfaceError, DisconnectionError, IMAPClientError, OSError)


def is_temporary(error: BaseException) -> bool:
    return isinstance(error, TEMPORARY)


@dataclass
class Backoff:
    """Pauses of `first` seconds doubling to `longest`; `reset` after a success. Remembers when the failures
    began (monotonic seconds), to say how long they lasted."""

    first: float = FIRST_PAUSE
    longest: float = LONGEST_PAUSE
    failures: int = 0
    failing_since: float | None = None

    def next_pause(self) -> float:
        pause = min(self.first * 2 ** min(self.failures, 30), self.longest)
        if not self.failures:
            self.failing_since = time.monotonic()
        self.failures += 1
        return pause

    def failing_for(self) -> timedelta:
        return timedelta(seconds=time.monotonic() - self.failing_since if self.failing_since is not None else 0)

    def reset(self) -> None:
        self.failures, self.failing_since = 0, None


def one_line(error: BaseException) -> str:
    """The error's type and first line. A database error without its SQL statement and parameters, which
    can hold message text; an unexpected error with the line of code it came from, to find the bug."""
    detail = str(error.orig if isinstance(error, DBAPIError) and error.orig is not None else error)
    first = " ".join(detail.strip().splitlines()[0].split()) if detail.strip() else ""
    if isinstance(error, HubError) and first:
        text = first  # the hub's own errors already say what and where
    else:
        text = f"{type(error).__name__}: {first}" if first else type(error).__name__
    if not is_temporary(error) and error.__traceback__ is not None:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        text += f" (at {Path(frame.filename).name}:{frame.lineno} in {frame.name})"
    return text[:500]
