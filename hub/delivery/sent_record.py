"""A message that went: first the sent mark, then its record on the case.

The server's final reply (SMTP's 250 to DATA, Twilio's accept, the sent Maildir's write) makes a message sent;
until a commit says so, a crash sends it again. So that commit comes first and does nothing else: `SentMark`
appends the acceptance to the sent journal (hub.delivery.sent_journal: one write() to a local file, quicker
than any commit), then runs one UPDATE of the outbox row (state, sent_at, provider id, attempts, lease
cleared, `unrecorded` set), committed at once (on PostgreSQL a letter's mark goes without waiting for its
answer, which the next letter's send awaits before its DATA: hub.delivery.mark_ahead). `record_sent` follows
in a transaction of its own (`SentRecords`: several letters' in one; on PostgreSQL its writes and commit sent
ahead of their answer, `RecordsAhead`): the sent Message row with the bytes, its event, the case's status and the
agency's reminders, and `unrecorded` cleared. The next delivery pass marks a
row a crash left with its journal line only (`mark_journalled`), and records a row a crash left marked only
(`record_unrecorded`), its bytes composed again from the row: the same headers (the Date from sent_at), the
same text; only a letter with attachments gets a new MIME boundary.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, CursorResult, bindparam, insert, select, true, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hub.cases import reminders
from hub.core.app import Hub
from hub.core.db import reserve_ids
from hub.core.db_pipeline import WRITE_ONLY, Pipeline, write_only
from hub.core.errors import describe
from hub.core.file_store import cut_raw, keep_cuts, keep_file
from hub.core.models import Case, Event, Message, Outbox
from hub.delivery.mark_ahead import MarkAhead
from hub.delivery.sent_journal import SentJournal, journal_lines, journal_path
from hub.letters.compose import Outgoing, compose, outgoing_for, subject_line
from hub.letters.templates import AGENCY_LETTERS

log = logging.getLogger(__name__)

# Never twice on one row: a pass that marked it from the journal meanwhile would have its record repeated.
_MARK = (update(Outbox).where(Outbox.id == bindparam("row_id"), Outbox.state != "sent")
         .values(state="sent", sent_at=bindparam("at"), provider_id=bindparam("provider"), error="",
                 attempts=Outbox.attempts + 1, lease_until=None, lease_owner=None, unrecorded=True))
# The record's claim returns what the record needs of the row: no second read of it.
_CLAIM = (update(Outbox).where(Outbox.id.in_(bindparam("row_ids", expanding=True)), Outbox.unrecorded == true())
          .values(unrecorded=False)
          .returning(Outbox.id, Outbox.case_id, Outbox.channel, Outbox.letter, Outbox.recipient, Outbox.message_id,
                     Outbox.in_reply_to, Outbox.references, Outbox.actor, Outbox.sent_at))
_INSERT_MESSAGE = insert(Message).returning(Message.id, sort_by_parameter_order=True)
# A record's writes: in a pipeline (`RecordsAhead`) sent without waiting for their answer (an insert `inline`: no
# RETURNING of its primary key, which would be waited for).
_INSERT_MESSAGE_WITH_ID = write_only(insert(Message).inline())
_INSERT_EVENT = write_only(insert(Event).inline())
_CASES = select(Case.id, Case.status, Case.updated_at, Case.agency).where(Case.id.in_(bindparam("ids", expanding=True)))
_TOUCH_CASE = write_only(update(Case).where(Case.id == bindparam("case_row_id"))
                         .values(updated_at=bindparam("new_updated_at")))
_CASE_STATUS = write_only(update(Case).where(Case.id == bindparam("case_row_id"))
                          .values(status=bindparam("new_status")))
_WAITING = ("pending", "sending")  # the states in which a row may still go: those a journal line marks
_CHUNK = 500


# What keeps the mark's commit quick, set on its connection before the send and undone after it:
# PostgreSQL does not wait for the WAL flush (the record's synchronous commit flushes it, mark included);
# SQLite (WAL, synchronous=NORMAL: no fsync at commit) runs no checkpoint in it (the record's commit
# does, at SQLite's default of 1000 pages).
_QUICK = {"postgresql": ("SET synchronous_commit = off", "RESET synchronous_commit"),
          "sqlite": ("PRAGMA wal_autocheckpoint = 0", "PRAGMA wal_autocheckpoint = 1000")}


class SentMarks:
    """The sent marks of one delivery pass, on one connection kept for the pass: each mark is one statement on
    a connection already open, committing as it runs (one round trip on PostgreSQL). SQLAlchemy's own
    execution would cost as much again as the statement itself, so the statement is compiled and its
    parameters converted, as SQLAlchemy does, before the send; and a connection checked out, set up and
    given back for every letter would cost a round trip or two each on PostgreSQL.

        with SentMarks(hub) as marks:
            ...
            with marks.mark(row_id, now, settled_by_send=True) as mark:
                reply = await transport.send(..., before_data=marks.settle)
                mark.commit(reply)

    With `settled_by_send` the send settles the mark before it (`settle`, right before its DATA), and on
    PostgreSQL this mark goes to the server without waiting for its answer (hub.delivery.mark_ahead): its round
    trip passes while the next letter is composed and its envelope answered. Without it, as for a text, the
    mark before is settled first and this one commits as it runs.

    Nothing slow runs in a mark's commit (see `_QUICK`): it survives a crash of the hub at once; on
    PostgreSQL a crash of the database server or the machine from the record's synchronous commit on,
    which comes right after (SQLite, synchronous=NORMAL, makes every commit safe from the machine at
    its checkpoints, the mark like the rest). Waiting for the disk (milliseconds) would widen several
    times over the window in which a crash sends a letter twice; a mark lost with the machine sends
    the letter twice too, never loses it. A mark that fails lets its connection go: the next one connects
    again.
    """

    def __init__(self, hub: Hub) -> None:
        self._engine = hub.engine
        self._journal = journal_path(hub.config)
        self._connection: Connection | None = None
        self._form: _DriverForm | None = None
        self._ahead: MarkAhead | None = None  # on PostgreSQL: marks sent without waiting for their answer
        self._unsettled: SentJournal | None = None  # the journal of the mark sent ahead and not yet settled

    def __enter__(self) -> SentMarks:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def mark(self, row_id: int, at: datetime, settled_by_send: bool = False) -> Iterator[SentMark]:
        """One letter's mark, made ready before its send; the journal's line stays locked until it commits.
        The mark sent ahead of it (`settled_by_send`) is settled first; unless this letter's own send settles
        it, just before the server can accept this letter (its DATA): then this mark too goes ahead on
        PostgreSQL (hub.delivery.mark_ahead), settled by the next letter's send, or by `settle`."""
        if not settled_by_send:
            self.settle()
        journal = SentJournal(self._journal, row_id, at)
        journal.open()  # before the connection: a pass emptying the journal may hold it a moment
        mark = None
        try:
            connection, form = self._connected()
            mark = SentMark(self, connection.connection, form, row_id, at, journal,
                            self._ahead if settled_by_send else None)
            yield mark
        finally:
            if mark is not None and mark.sent_ahead:
                self._unsettled = journal  # its lock stays until the mark is settled
            else:
                journal.close()  # after the mark's commit: until then its line must stay

    def settle(self) -> None:
        """Wait for the mark sent ahead, if one is on its way; its journal is let go once it has committed."""
        journal, self._unsettled = self._unsettled, None
        if journal is None:
            return
        try:
            assert self._ahead is not None
            self._ahead.settle()
        except BaseException:
            self.close()
            raise
        finally:
            journal.close()

    def close(self) -> None:
        try:
            self.settle()
        finally:
            connection, self._connection, self._ahead = self._connection, None, None
            if connection is not None:
                _disconnect(connection)

    def _connected(self) -> tuple[Connection, _DriverForm]:
        if self._connection is None or self._connection.invalidated or self._form is None:
            self.close()
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                quick, _ = _QUICK.get(connection.dialect.name, ("", ""))
                if quick:
                    connection.exec_driver_sql(quick)
            except BaseException:
                connection.close()
                raise
            self._connection, self._form = connection, _driver_form(connection.dialect)
            if connection.dialect.driver == "psycopg":
                self._ahead = MarkAhead(connection.connection.driver_connection, _MARK)
        return self._connection, self._form


class SentMark:
    """The sent mark of one row, its statement's values converted before the send (`SentMarks.mark`)."""

    def __init__(self, marks: SentMarks, driver: Any, form: _DriverForm, row_id: int, at: datetime,
                 journal: SentJournal, ahead: MarkAhead | None) -> None:
        self._marks = marks
        self._driver = driver
        self._form = form
        self._journal = journal
        self._ahead = ahead
        self._row_id, self._at = row_id, at
        if ahead is None:
            self._values = {**form.constants, "row_id": form.convert["row_id"](row_id),
                            "at": form.convert["at"](at)}
        self.sent_ahead = False

    def commit(self, provider_id: str) -> None:
        self._journal.write(provider_id)
        try:
            if self._ahead is not None:
                self._ahead.send({"row_id": self._row_id, "at": self._at, "provider": provider_id[:998]})
                self.sent_ahead = True
                return
            values = {**self._values, "provider": self._form.convert["provider"](provider_id[:998])}
            parameters = [values[name] for name in self._form.order] if self._form.order else values
            cursor = self._driver.cursor()
            try:
                cursor.execute(self._form.statement, parameters)
            except self._form.driver_error as error:  # as SQLAlchemy raises it (hub.core.db.is_outage reads it)
                raise DBAPIError.instance(self._form.statement, None, error, self._form.driver_error,
                                          hide_parameters=True) from error
            finally:
                cursor.close()
        except BaseException:
            self._marks.close()  # whatever the connection's state now, the next mark starts on a new one
            raise


def _disconnect(connection: Connection) -> None:
    """The marks' connection let go: given back to the pool with its settings undone, or dropped when that fails
    (it was lost with a mark, say: the mark's own error is the one that counts, and is not to be replaced)."""
    try:
        _, usual = _QUICK.get(connection.dialect.name, ("", ""))
        if usual and not connection.invalidated:
            connection.exec_driver_sql(usual)  # before the connection goes back to the pool
    except Exception as error:
        log.warning("the sent marks' connection could not be reset, and is dropped: %s", describe(error))
        if not connection.invalidated:
            connection.invalidate()
    finally:
        connection.close()


@dataclass(frozen=True)
class _DriverForm:
    """The mark as the database driver takes it."""

    statement: str
    order: tuple[str, ...]  # the parameters' order for a positional paramstyle; () for a named one
    constants: dict[str, Any]  # the statement's fixed values, converted
    convert: dict[str, Callable[[Any], Any]]  # for the values given per row: the column type's conversion
    driver_error: type[Exception]  # the driver's base class of errors (PEP 249's Error)


@functools.cache
def _driver_form(dialect: Dialect) -> _DriverForm:
    compiled = _MARK.compile(dialect=dialect)
    given = ("row_id", "at", "provider")

    def conversion(name: str) -> Callable[[Any], Any]:
        process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        return process or (lambda value: value)

    convert = {name: conversion(name) for name in compiled.binds}
    constants = {name: convert[name](value) for name, value in
                 compiled.construct_params({"row_id": 0, "at": None, "provider": ""}).items() if name not in given}
    return _DriverForm(str(compiled), tuple(compiled.positiontup or ()), constants,
                       {name: convert[name] for name in given}, dialect.loaded_dbapi.Error)


def record_sent(hub: Hub, row_id: int, outgoing: Outgoing, raw: bytes, sender: str | None = None) -> None:
    """The sent message on its case, in its own transaction; nothing when another pass recorded it."""
    with hub.sessions.begin() as session:
        _record(session, hub, row_id, outgoing, raw, sender)


class SentRecords:
    """The records of a delivery pass's sent letters, made RECORDS at a time in one transaction: each letter's
    mark has committed (`unrecorded` set), so a crash before its record leaves it to `record_unrecorded`. On
    PostgreSQL a set's writes and commit go without waiting for their answer (`RecordsAhead`); `close` waits for
    the last."""

    RECORDS = 100

    def __init__(self, hub: Hub, marks: SentMarks | None = None) -> None:
        self.hub = hub
        self.marks = marks  # whose mark sent ahead is settled first: a record is only made of a marked row
        self.waiting: list[tuple[int, Outgoing, bytes]] = []
        self._ahead: RecordsAhead | None = None

    def add(self, row_id: int, outgoing: Outgoing, raw: bytes) -> None:
        self.waiting.append((row_id, outgoing, raw))
        if len(self.waiting) >= self.RECORDS:
            self.flush()

    def flush(self) -> None:
        waiting, self.waiting = self.waiting, []
        if not waiting:
            return
        if self.marks is not None:
            self.marks.settle()
        sent: list[tuple[int, Outgoing, bytes | None, str | None]] = [
            (row_id, outgoing, raw, None) for row_id, outgoing, raw in waiting]
        if self.hub.engine.dialect.driver != "psycopg":
            with self.hub.sessions.begin() as session:
                _record_many(session.connection(), self.hub, sent)
            return
        ahead = self._ahead = self._ahead or RecordsAhead(self.hub)
        try:
            ahead.send(sent)
        except BaseException:
            self._ahead = None  # it let its connection go
            raise

    def close(self) -> None:
        """The records still waiting made, and those sent ahead awaited: committed, or their error raised (their
        rows are left to `record_unrecorded`)."""
        try:
            self.flush()
        finally:
            ahead, self._ahead = self._ahead, None
            if ahead is not None:
                ahead.close()


class RecordsAhead:
    """A delivery pass's records on PostgreSQL, on a connection of their own in pipeline mode
    (hub.core.db_pipeline): a set's reads wait for their answer as ever, but its writes and its commit are sent
    without waiting, and the server works on them (the sent messages' rows with their search words, most of a
    record's time) while the next letters go. The next set's first read waits for them, and raises what failed;
    so does `close`. A set that fails leaves its rows marked and unrecorded, for `record_unrecorded`."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._connection = hub.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            self._pipeline = Pipeline(self._connection)
        except BaseException:
            self._connection.close()
            raise

    def send(self, sent: list[tuple[int, Outgoing, bytes | None, str | None]]) -> None:
        connection = self._connection
        try:
            connection.exec_driver_sql("BEGIN", execution_options={WRITE_ONLY: True})
            _record_many(connection, self._hub, sent)
            connection.exec_driver_sql("COMMIT", execution_options={WRITE_ONLY: True})
        except BaseException:
            self._drop()
            raise

    def close(self) -> None:
        """Wait for the last set's commit; raise its error, if it failed (as SQLAlchemy raises a driver's error:
        hub.core.db.is_outage reads it)."""
        driver_error: type[Exception] = self._connection.dialect.loaded_dbapi.Error
        try:
            self._pipeline.close()
        except driver_error as error:
            self._drop()
            raise DBAPIError.instance("COMMIT", None, error, driver_error, hide_parameters=True) from error
        except BaseException:
            self._drop()
            raise
        self._connection.close()

    def _drop(self) -> None:
        """The connection let go with whatever it holds undone (a set in the middle, a failed transaction)."""
        self._pipeline.abandon()
        self._connection.invalidate()
        self._connection.close()


def mark_journalled(hub: Hub) -> int:
    """Mark sent, as `SentMark` does, each row whose acceptance is in the sent journal while the database
    still has it waiting to go (a crash came between the line and the mark); how many. `record_unrecorded`
    records them next. A line for a row that is gone, or neither waiting nor sent, is logged and skipped."""
    marked = 0
    with journal_lines(journal_path(hub.config)) as lines:
        for start in range(0, len(lines), _CHUNK):
            chunk = lines[start:start + _CHUNK]
            with hub.sessions.begin() as session:
                states = {row_id: state for row_id, state in session.execute(
                    select(Outbox.id, Outbox.state).where(Outbox.id.in_([line.row_id for line in chunk])))}
                for line in chunk:
                    state = states.get(line.row_id)
                    if state in _WAITING:
                        done: CursorResult[Any] = session.connection().execute(  # type: ignore[assignment]
                            _MARK.where(Outbox.state.in_(_WAITING)),
                            {"row_id": line.row_id, "at": line.at, "provider": line.provider})
                        marked += done.rowcount
                    elif state != "sent":
                        log.warning("sent journal: outbox %d %s; its line is skipped", line.row_id,
                                    "does not exist" if state is None else f"is {state}, not waiting to go")
    if marked:
        log.info("outbox: marked %d messages sent from the sent journal (their sender stopped before the "
                 "database's mark)", marked)
    return marked


def record_unrecorded(hub: Hub) -> int:
    """Record every message marked sent whose record a crash cut short; how many."""
    with hub.sessions() as session:
        waiting = list(session.scalars(select(Outbox.id).where(Outbox.unrecorded == true()).order_by(Outbox.id)))
    for row_id in waiting:
        with hub.sessions.begin() as session:
            _record_marked(session, hub, row_id)
    if waiting:
        log.info("outbox: recorded %d sent messages whose record an interruption had cut short", len(waiting))
    return len(waiting)


def mark_found_sent(hub: Hub, row_id: int, at: datetime, provider: str) -> None:
    """Mark sent and record, in one transaction, a row still waiting to go whose message the server was
    found to have (hub.delivery.in_doubt): as `mark_journalled` and `record_unrecorded` would."""
    with hub.sessions.begin() as session:
        session.connection().execute(_MARK.where(Outbox.state.in_(_WAITING)),
                                     {"row_id": row_id, "at": at, "provider": provider})
        _record_marked(session, hub, row_id)


def _record_marked(session: Session, hub: Hub, row_id: int) -> None:
    row = session.get_one(Outbox, row_id)
    if row.unrecorded:
        outgoing, raw, sender = _sent_copy(session, hub, row)
        _record(session, hub, row_id, outgoing, raw, sender)


def _sent_copy(session: Session, hub: Hub, row: Outbox) -> tuple[Outgoing, bytes | None, str | None]:
    """What went for a row marked sent, composed again from the row (no bytes when that fails, e.g. the
    release form it carried is gone: the record is kept all the same, or it would stop every pass)."""
    assert row.sent_at is not None and row.body is not None
    if row.channel == "sms":
        sms = hub.config.sms
        return Outgoing(row.recipient, "", row.body, row.message_id, None), row.body.encode(), \
            sms.number if sms else hub.config.office.address
    case = session.get(Case, row.case_id) if row.case_id else None
    try:
        outgoing = outgoing_for(session, row, case, hub.config)
        return outgoing, compose(outgoing, hub.config, hub.refs, row.sent_at), None
    except (OSError, ValueError) as error:
        log.warning("outbox %d: sent %s recorded without its bytes: %s", row.id, row.letter, error)
        return Outgoing(row.recipient, row.subject or "", row.body, row.message_id, case.ref if case else None), \
            None, None


def _record(session: Session, hub: Hub, row_id: int, outgoing: Outgoing, raw: bytes | None,
            sender: str | None) -> None:
    _record_many(session.connection(), hub, [(row_id, outgoing, raw, sender)])


def _record_many(connection: Connection, hub: Hub, sent: list[tuple[int, Outgoing, bytes | None, str | None]]) -> None:
    """The records of `sent` (row id, what went, its bytes, its sender), in the order given, as a few Core
    statements: one claim, one insert of the messages, one of their events, one update of their cases. A row
    recorded already (by another pass that found it after a crash) is left out."""
    claimed = {row.id: row for row in connection.execute(_CLAIM, {"row_ids": [row_id for row_id, *_ in sent]})
               if row.sent_at is not None}
    records = [(claimed[row_id], outgoing, raw, sender) for row_id, outgoing, raw, sender in sent if row_id in claimed]
    if not records:
        return
    # Read before the writes: in a pipeline (`RecordsAhead`) a read waits for every statement sent before it.
    read = {case.id: case for case in connection.execute(
        _CASES, {"ids": list({row.case_id for row, *_ in records if row.case_id is not None})})}
    office = hub.config.office
    messages, kept_raws = [], []
    for row, outgoing, raw, sender in records:
        kept = None
        if raw is not None:  # the files it carried are stored once, those on the case with them
            by_hash = {hashlib.sha256(attachment.data).hexdigest(): attachment.data
                       for attachment in outgoing.attachments}
            kept = cut_raw(raw, by_hash)
            for sha256 in {cut.sha256 for cut in kept.cuts}:
                keep_file(connection, by_hash[sha256], sha256)
        kept_raws.append(kept)
        messages.append(dict(
            case_id=row.case_id, direction="out", channel=row.channel, kind=_kind(row.letter), disposition="case",
            dedupe_key=f"out:{row.message_id}", message_id=row.message_id, in_reply_to=row.in_reply_to,
            references=row.references, source="outbox", sender=sender or office.address, sender_name=office.name,
            recipients=[row.recipient], subject=subject_line(outgoing) if outgoing.subject else "",
            body=outgoing.body, full_text=outgoing.body, at=row.sent_at, received_at=row.sent_at,
            **(kept.columns() if kept else {"raw_skeleton": None, "raw_sha256": None})))
    message_ids = _insert_messages(connection, messages)
    for message_id, kept in zip(message_ids, kept_raws, strict=True):
        if kept is not None:
            keep_cuts(connection, message_id, kept)
    cases = {case_id: case._asdict() for case_id, case in read.items()}
    events: list[dict[str, Any]] = []
    for (row, *_), message_id in zip(records, message_ids, strict=True):
        at = row.sent_at
        events.append(dict(case_id=row.case_id, message_id=message_id, kind="message-sent", actor=row.actor,
                           via="mail" if row.letter == "relay" else "rule", at=at,
                           detail=f"{_kind(row.letter)} to {row.recipient}"))
        case = cases.get(row.case_id) if row.case_id is not None else None
        if case is not None:
            case["updated_at"] = max(case["updated_at"], at)
            if row.letter in AGENCY_LETTERS and case["status"] not in ("closed", "pending-agency"):
                events.append(dict(case_id=case["id"], message_id=None, kind="status", actor="hub", via="rule",
                                   at=at, detail=f"{case['status']} -> pending-agency ({row.letter} sent)"))
                case["status"] = "pending-agency"
            if row.letter in AGENCY_LETTERS and case["status"] != "closed":
                reminders.agency_letter_sent(connection, hub.config, case["id"], case["agency"], row.letter, at)
    connection.execute(_INSERT_EVENT, events)
    # Only what changed, as the ORM wrote it: a case's other columns are left to whoever changes them meanwhile.
    touched = [{"case_row_id": case_id, "new_updated_at": case["updated_at"]} for case_id, case in cases.items()
               if case["updated_at"] != read[case_id].updated_at]
    if touched:
        connection.execute(_TOUCH_CASE, touched)
    moved = [{"case_row_id": case_id, "new_status": case["status"]} for case_id, case in cases.items()
             if case["status"] != read[case_id].status]
    if moved:
        connection.execute(_CASE_STATUS, moved)
    for row, *_ in records:
        log.info("outbox %d: sent %s", row.id, row.letter)


def _insert_messages(connection: Connection, messages: list[dict[str, Any]]) -> list[int]:
    """The messages' rows inserted, their ids in order. PostgreSQL takes the ids from the sequence first: an
    insert that returns nothing goes as the driver's own executemany, one short statement parsed once, where
    RETURNING made one long statement of every row's values, which the driver parsed anew each time."""
    if connection.dialect.name != "postgresql":
        return list(connection.execute(_INSERT_MESSAGE, messages).scalars())
    message_ids = reserve_ids(connection, "messages", len(messages))
    connection.execute(_INSERT_MESSAGE_WITH_ID, [{**message, "id": message_id}
                                                 for message, message_id in zip(messages, message_ids, strict=True)])
    return message_ids


def _kind(letter: str) -> str:
    return "staff" if letter == "relay" else f"letter:{letter}"
