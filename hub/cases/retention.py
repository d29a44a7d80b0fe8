"""Retention: what `[retention]` lets go, listed (`hub purge --dry-run`) and removed (`hub purge`, the nightly job).

Off unless configured. `closed_case_years`: a case closed at least that long ago (by its closed_at) becomes
its tombstone (hub.cases.tombstone), one transaction per case, so an interruption leaves each case either
purged or untouched and the next run finishes; a purged case that changes again (a late message, a note,
a reopening) is purged again once it is closed that long. Messages on no case (dismissed from triage, staff
commands) received that long ago are emptied the same way. `raw_mail_days`: the original bytes of every
message received at least that many days ago go, on every case, open ones too, in batches; the parsed
text and the files stay. Messages still waiting in triage keep theirs (filing one reads it again), and
quarantine items retried or discarded that long ago are dropped. A second run finds nothing to do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, or_, select
from sqlalchemy.orm import Session, defer, sessionmaker

from hub.cases.tombstone import Emptied, bury, empty_messages, is_tombstone
from hub.core.config_values import Retention
from hub.core.file_store import bytes_are_kept, forget_message_raw, raw_is_kept, raw_size
from hub.core.models import Attachment, Case, Message, QuarantineItem
from hub.core.refs import References

log = logging.getLogger(__name__)
BATCH = 200
WAITING = "triage"  # a held message's disposition (hub.cases.triage_queue)


@dataclass(frozen=True)
class DueCase:
    id: int
    ref: str
    closed_at: datetime
    sizes: Emptied

    def as_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "closed_at": self.closed_at.isoformat(), "messages": self.sizes.messages,
                "files": self.sizes.files, "bytes": self.sizes.bytes}


@dataclass(frozen=True)
class Plan:
    """What a purge now would remove."""

    cases: tuple[DueCase, ...] = ()
    raw_messages: int = 0       # messages whose original bytes go (beyond those of the cases above)
    raw_bytes: int = 0
    loose_messages: int = 0     # messages on no case emptied
    quarantine: int = 0         # closed quarantine items dropped

    def as_json(self) -> dict[str, Any]:
        return {"cases": [case.as_json() for case in self.cases],
                "raw_mail": {"messages": self.raw_messages, "bytes": self.raw_bytes},
                "messages_on_no_case": self.loose_messages, "quarantine_items": self.quarantine}


@dataclass(frozen=True)
class Purged:
    cases: int = 0
    messages: int = 0
    files: int = 0
    bytes: int = 0
    raw_messages: int = 0
    loose_messages: int = 0
    quarantine: int = 0

    def line(self) -> str:
        return (f"retention: {self.cases} cases purged ({self.messages} messages, {self.files} files), original mail "
                f"of {self.raw_messages} more messages removed, {self.loose_messages} messages on no case emptied, "
                f"{self.quarantine} quarantine items dropped; {self.bytes} bytes freed")

    def as_json(self) -> dict[str, int]:
        return asdict(self)

    def __add__(self, other: Purged) -> Purged:
        return Purged(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


def years_before(now: datetime, years: int) -> datetime:
    """The same moment `years` years earlier (29 February: the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def plan(session: Session, retention: Retention, now: datetime) -> Plan:
    closed_before, raw_before = _limits(retention, now)
    cases = _due_cases(session, closed_before) if closed_before else ()
    raw_messages = raw_bytes = quarantine = loose = 0
    if raw_before:
        raw_messages, raw_bytes = session.execute(select(func.count(), func.coalesce(func.sum(raw_size()), 0))
                                                  .where(_raw_due(raw_before), *_not_emptied(closed_before))).one()
        quarantine = session.scalar(select(func.count()).where(_quarantine_due(raw_before))) or 0
    if closed_before:
        loose = session.scalar(select(func.count()).where(_loose_due(closed_before))) or 0
    return Plan(tuple(cases), raw_messages, raw_bytes, loose, quarantine)


def purge(sessions: sessionmaker[Session], retention: Retention, refs: References, now: datetime,
          should_stop: Callable[[], bool] = lambda: False) -> Purged:
    """Remove what `plan` lists, in small transactions; returns what went."""
    closed_before, raw_before = _limits(retention, now)
    done = Purged()
    if closed_before:
        why = f"[retention] closed_case_years = {retention.closed_case_years}"
        after = 0  # by id, so that a case that could not be purged is not tried again in this run
        while not should_stop() and (batch := _due_ids(sessions, closed_before, after)):
            for case_id in batch:
                done += _purge_case(sessions, case_id, closed_before, now, why, refs)
            after = batch[-1]
        done += _batches(sessions, _loose_due(closed_before), empty_messages, should_stop, "loose_messages")
    if raw_before:
        done += _batches(sessions, _raw_due(raw_before), _forget_raw, should_stop, "raw_messages")
        with sessions.begin() as session:
            dropped = session.execute(delete(QuarantineItem).where(_quarantine_due(raw_before)))
            done += Purged(quarantine=int(dropped.rowcount))  # type: ignore[attr-defined]
    if done != Purged():
        log.info("%s", done.line())
    return done


def _not_emptied(closed_before: datetime | None) -> tuple[ColumnElement[bool], ...]:
    """Not among the messages that go whole (those of the cases due, and those on no case): counted there."""
    if closed_before is None:
        return ()
    of_cases_due = Message.case_id.in_(select(Case.id).where(_case_due(closed_before)))
    return (or_(Message.case_id.is_(None), ~of_cases_due), ~_loose_due(closed_before))


def _limits(retention: Retention, now: datetime) -> tuple[datetime | None, datetime | None]:
    years, days = retention.closed_case_years, retention.raw_mail_days
    return (years_before(now, years) if years else None, now - timedelta(days=days) if days else None)


def _case_due(closed_before: datetime) -> ColumnElement[bool]:
    return (Case.status == "closed") & (Case.closed_at <= closed_before) & ~is_tombstone()


def _due_ids(sessions: sessionmaker[Session], closed_before: datetime, after: int) -> list[int]:
    with sessions() as session:
        return list(session.scalars(select(Case.id).where(_case_due(closed_before), Case.id > after)
                                    .order_by(Case.id).limit(BATCH)))


def _due_cases(session: Session, closed_before: datetime) -> list[DueCase]:
    rows = session.execute(select(Case.id, Case.ref, Case.closed_at).where(_case_due(closed_before))
                           .order_by(Case.closed_at, Case.id)).all()
    return [DueCase(case_id, ref, closed_at, _sizes(session, case_id)) for case_id, ref, closed_at in rows
            if closed_at is not None]


def _sizes(session: Session, case_id: int) -> Emptied:
    messages, raw = session.execute(select(func.count(), func.coalesce(func.sum(raw_size()), 0))
                                    .where(Message.case_id == case_id)).one()
    files, data = session.execute(
        select(func.count(), func.coalesce(func.sum(Attachment.size), 0)).join(Message)
        .where(Message.case_id == case_id, bytes_are_kept())).one()
    return Emptied(int(messages), int(files), int(raw) + int(data))


def _purge_case(sessions: sessionmaker[Session], case_id: int, closed_before: datetime, now: datetime, why: str,
                refs: References) -> Purged:
    with sessions.begin() as session:
        # Locked and asked again: another daemon on the same database may have purged it meanwhile.
        case = session.scalar(select(Case).where(Case.id == case_id, _case_due(closed_before)).with_for_update(of=Case))
        if case is None:
            return Purged()
        sizes = _sizes(session, case_id)
        bury(session, case, now, why, sizes)
        log.info("retention: case %s purged", refs.redact(case.ref))
    return Purged(cases=1, messages=sizes.messages, files=sizes.files, bytes=sizes.bytes)


def _raw_due(raw_before: datetime) -> ColumnElement[bool]:
    waiting = (Message.disposition == WAITING) & Message.case_id.is_(None)
    return raw_is_kept() & (Message.received_at <= raw_before) & ~waiting


def _loose_due(closed_before: datetime) -> ColumnElement[bool]:
    files = exists().where(Attachment.message_id == Message.id, or_(bytes_are_kept(), Attachment.filename != ""))
    unemptied = or_(Message.sender != "", Message.subject != "", Message.body != "", Message.full_text != "",
                    raw_is_kept(), files)
    return (Message.case_id.is_(None) & (Message.disposition != WAITING) & (Message.received_at <= closed_before)
            & unemptied)


def _quarantine_due(raw_before: datetime) -> ColumnElement[bool]:
    return (QuarantineItem.state != "held") & (QuarantineItem.closed_at <= raw_before)


def _forget_raw(session: Session, message_ids: list[int]) -> int:
    freed = session.scalar(select(func.coalesce(func.sum(raw_size()), 0)).where(Message.id.in_(message_ids))) or 0
    rows = select(Message).where(Message.id.in_(message_ids)).options(defer(Message.raw_skeleton))
    for message in session.scalars(rows):
        forget_message_raw(session, message)
    return int(freed)


def _batches(sessions: sessionmaker[Session], due: ColumnElement[bool],
             work: Callable[[Session, list[int]], int | None], should_stop: Callable[[], bool], counted: str) -> Purged:
    """Apply `work` to the messages `due` selects, BATCH at a time, each batch in its own transaction."""
    done, after = Purged(), 0
    while not should_stop():
        with sessions.begin() as session:
            ids = list(session.scalars(select(Message.id).where(due, Message.id > after).order_by(Message.id)
                                       .limit(BATCH)))
            if not ids:
                break
            freed = work(session, ids) or 0
        done += Purged(bytes=freed, **{counted: len(ids)})
        after = ids[-1]
    return done
