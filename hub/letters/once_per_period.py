"""Mail due once a period (the weekly report, the weekday triage list): queued once, across restarts and daemons.

Whether a period's mail went is read from the outbox, never from memory: a row of that letter about no case,
queued since the period's due moment (and, given a `label`, naming the period in its subject). So a hub that was
down at the due moment queues it once when it comes back, a cycle that runs every minute queues it once, and a
hub started twice in a day does not queue it again. On PostgreSQL, where several daemons may share one database,
an advisory lock named after the letter lets only one of them look and queue at a time.

    def queue(session): ...                   # adds the rows; returns how many
    if is_queued(session, LETTER, due_at):    # the cheap look, every cycle, before the work of making the mail
        return None
    queued = queue_once(hub.sessions, LETTER, due_at, queue)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.core.models import Outbox


def is_queued(session: Session, letter: str, since: datetime, label: str = "") -> bool:
    """Whether mail of `letter` (naming `label`) about no case was queued at or after `since`."""
    # case_id IS NULL first: the outbox's case_id index narrows a large outbox to the few rows of no case.
    query = select(func.count()).select_from(Outbox).where(Outbox.case_id.is_(None), Outbox.letter == letter,
                                                           Outbox.created_at >= since)
    if label:
        query = query.where(Outbox.subject.contains(label))
    return bool(session.scalar(query))


def queue_once(sessions: sessionmaker[Session], letter: str, since: datetime, queue: Callable[[Session], int],
               label: str = "") -> int | None:
    """Run `queue` in one transaction unless the period's mail is queued already; returns what it returned, or
    None when the mail had gone (or another daemon queued it first)."""
    with sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(select(func.pg_advisory_xact_lock(lock_id(letter))))
        if is_queued(session, letter, since, label):
            return None
        return queue(session)


def lock_id(letter: str) -> int:
    """A stable advisory lock id (a signed 64-bit number) for one letter's period."""
    return int.from_bytes(hashlib.blake2b(letter.encode(), digest_size=8).digest(), "big", signed=True)
