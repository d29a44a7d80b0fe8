"""Records when a source was last read, or a daemon job last ran, successfully, and its last error, for
`hub status`: one `source_cursors` row per name ("imap:…", "maildir:…", "job:outbox", …).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub.core import redact
from hub.core.clock import Clock
from hub.core.models import SourceCursor
from hub.sources.backoff import is_temporary, one_line

log = logging.getLogger(__name__)
JOB_PREFIX = "job:"


def record(sessions: sessionmaker[Session], name: str, now: datetime, error: str = "") -> None:
    """A success at `now` (clearing the last error), or with `error` (already fit for a log) a failure at `now`."""
    values: dict[str, object] = {"last_error": f"{now:%Y-%m-%d %H:%M:%S} UTC: {error}"[:2000]} if error else {
        "last_success_at": now, "last_error": ""}
    for attempt in range(2):
        try:
            with sessions.begin() as session:
                updated: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                    update(SourceCursor).where(SourceCursor.source == name).values(**values))
                if updated.rowcount:
                    return
                session.add(SourceCursor(source=name, position=0, **values))
            return
        except IntegrityError:  # another process made the row meanwhile: update it
            if attempt:
                raise


def record_failure_quietly(sessions: sessionmaker[Session], name: str, now: datetime, error: str) -> None:
    """Record a failure if the database lets us: it may be the very thing that failed."""
    try:
        record(sessions, name, now, error)
    except (SQLAlchemyError, OSError) as failure:
        log.debug("%s: could not record the failure: %s", name, one_line(failure))


@contextmanager
def watched(sessions: sessionmaker[Session], name: str, clock: Clock) -> Iterator[None]:
    """Record the block's success, or its temporary failure (re-raised), under `name`."""
    try:
        yield
    except Exception as error:
        if is_temporary(error):
            record_failure_quietly(sessions, name, clock.now(), redact.addresses(one_line(error)))
        raise
    record(sessions, name, clock.now())
