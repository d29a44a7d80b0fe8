"""The inbound path, named once and in order: parse, screen, web forms, identify, thread, route, apply.

Every channel hands raw bytes to `process` (or a batch of them to a `Batch`); each message gets one fate —
on a case, in triage, a duplicate of one already stored, or in quarantine with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.core.app import Hub
from hub.core.clock import Clock
from hub.core.config import Config
from hub.core.db import is_outage, reserve_ids, skip_disk_wait
from hub.core.db_pipeline import Pipeline
from hub.core.errors import UserError, describe
from hub.core.models import Message, QuarantineItem
from hub.core.refs import References
from hub.intake import quarantine
from hub.intake.apply import CaseIds, apply
from hub.intake.bounces import UNLINKED, link_bounce
from hub.intake.identify import identify
from hub.intake.known_facts import KnownFacts
from hub.intake.message import InboundMessage, Oversized
from hub.intake.parse.workers import Parsed, Parser, oversize_reason, parse_stage
from hub.intake.route import CAUSES_MAIL, AnswerTriage, Archived, OpenCase, control_number, route, status_request
from hub.intake.screen import Screening
from hub.intake.status_answer import MAX_LISTED
from hub.intake.thread import CaseMatch, find_case, own_cases
from hub.intake.triage_reply import answer_triage, answered_item
from hub.intake.web_forms import read_submission
from hub.letters.notice_digest import Caps
from hub.letters.templates import Letters

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    # "command": staff mail on no case (an answer to a triage notice, a list request)
    fate: str  # "new-case" | "case" | "command" | "triage" | "duplicate" | "quarantine"
    reason: str = ""
    case_ref: str | None = None
    quarantine_id: int | None = None


@dataclass(frozen=True)
class Intake:
    """What the inbound path needs, built once per run."""

    config: Config
    sessions: sessionmaker[Session]
    refs: References
    clock: Clock
    letters: Letters
    # An archive import (`hub ingest --archive`): messages are filed and threaded, but cause no mail and
    # apply no commands: last year's constituents are not acknowledged again. Its cases keep the dates
    # of their messages, take `archive_status`, and nothing is ever scheduled for them.
    archive: bool = False
    archive_status: str = "closed"

    @classmethod
    def build(cls, config: Config, sessions: sessionmaker[Session], clock: Clock, *,
              watch_letters: bool = False) -> Intake:
        """`watch_letters`: for an intake kept for the process's life, whose letters must follow the office's
        edits (hub.letters.templates.Letters); one made for a pass reads each letter once."""
        return cls(config, sessions, References(config.office.reference_prefix, config.office.secret), clock,
                   Letters(config.resolve(config.letters.folder), watch=watch_letters))

    @classmethod
    def of(cls, hub: Hub, *, watch_letters: bool = False) -> Intake:
        return cls.build(hub.config, hub.sessions, hub.clock, watch_letters=watch_letters)

    @property
    def engine(self) -> Engine:
        engine = self.sessions.kw["bind"]
        assert isinstance(engine, Engine)
        return engine


def process(intake: Intake, raw: bytes, source: str, parser: Parser) -> Outcome:
    """Take one raw message through the whole path. Database outages propagate; all else has a fate."""
    limits = intake.config.limits
    return file_parsed(intake, raw, source, parse_stage(raw, source, parser, limits.max_message_bytes,
                                                        limits.max_attachment_bytes, intake.config.office.domain))


def file_parsed(intake: Intake, raw: bytes, source: str, parsed: Parsed) -> Outcome:
    """The rest of the path for a message already through the parse stage, in a transaction of its own."""
    with Batch(intake) as batch:
        return batch.file(raw, source, parsed)


class Refile(Exception):
    """A message failed in a batch filed without savepoints: the batch's transaction is rolled back whole, and
    the batch is to be filed again with a savepoint a message (`Batch(intake, careful=True)`)."""


class Batch:
    """One transaction for a batch of messages on PostgreSQL, each message filed in a savepoint of its own: a
    message that fails is rolled back alone and held in quarantine with the reason, and the rest of the batch
    goes on. There every statement is a round trip: a transaction per message cost three more (BEGIN, SET
    LOCAL, COMMIT) where the savepoint costs one. Nothing is committed until `commit`; a source acknowledges
    the batch's messages only after it.

    Not `careful`, a batch on PostgreSQL is filed without the savepoints, which cost a round trip a message while
    almost no message fails there (unparseable mail is held without an error): the first message that fails
    rolls the whole transaction back and raises `Refile`, and the caller files the batch again, carefully.

    Not careful, on PostgreSQL, the batch is also pipelined (hub.core.db_pipeline): a statement whose result is
    not read (a message's events, its letters, its attachments) is sent with the next statement that waits, not
    in a round trip of its own; so are a message's insert and a new case's, their ids taken from the sequences
    beforehand (hub.core.db.reserve_ids, CaseIds). Its error, if it fails, is raised later (by a
    later message's statement, or at the commit), so any failure there rolls the whole batch back and raises
    `Refile`, whichever message it seems to come from: the careful pass, without the pipeline, finds the message
    that fails.

    On SQLite each message keeps a transaction of its own: SQLite has one writer at a time, and a transaction
    as long as a batch would keep every other writer waiting (the IMAP source records its position from
    another thread while the next batch is filed; a `hub` command), while a commit there costs no round trip.
    On both, the duplicate check is one query for the whole batch.
    """

    def __init__(self, intake: Intake, careful: bool = True) -> None:
        self.intake = intake
        self.connection = intake.engine.connect()
        self._per_message = self.connection.dialect.name == "sqlite"
        self._careful = careful or self._per_message
        self._quarantine = sessionmaker(bind=self.connection, join_transaction_mode="create_savepoint")
        self._stored: set[str] = set()
        self._row_ids: list[int] = []  # reserved for the batch's messages, in a pipelined batch; the next last
        self._saving = False
        self._begin()
        self._pipeline = Pipeline(self.connection) if not self._careful else None
        self._case_ids = CaseIds(self.connection) if self._pipeline is not None else None  # as the message row ids
        self._caps: Caps | None = None  # the notice caps of the batch's senders, in a pipelined batch
        self._known: KnownFacts | None = None  # the cases of the batch's references, in a pipelined batch

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is None:
                self.commit()
        finally:
            if self._pipeline is not None:
                self._pipeline.abandon()
            self.connection.close()  # rolls back what was not committed

    def commit(self) -> None:
        if self._pipeline is not None:
            with self._refiled_on_failure():  # the last statements sent without a wait are answered here
                self._pipeline.close()
            self._pipeline = None
        self.connection.commit()

    @contextmanager
    def _refiled_on_failure(self) -> Iterator[None]:
        """Not careful, a failure (not an outage) rolls the batch back and raises `Refile`: in a pipelined batch
        the statement that failed may be an earlier message's, sent without a wait."""
        try:
            yield
        except Exception as error:
            if self._careful or is_outage(error, self.intake.engine):
                raise
            raise Refile from error

    def look_up(self, parsed: Iterable[Parsed | None]) -> None:
        """Learn in one query which of the batch's messages are stored already (the duplicates); in a pipelined
        batch, also take the row ids of the rest, in one more (hub.core.db.reserve_ids), the notice caps
        of their senders, in two more (hub.letters.notice_digest.Caps), and the cases of their references with
        what their senders are to them, in one more (hub.intake.known_facts)."""
        parsed = list(parsed)
        keys = sorted({p.message.dedupe_key for p in parsed if p is not None and p.message is not None})
        for start in range(0, len(keys), LOOK_UP_CHUNK):
            chunk = keys[start:start + LOOK_UP_CHUNK]
            self._stored.update(self.connection.execute(_STORED_KEYS, {"keys": chunk}).scalars())
        new = len(keys) - len(self._stored)
        if self._pipeline is not None and new > 0:
            self._row_ids = reserve_ids(self.connection, "messages", new)[::-1]
            senders = sorted({p.message.sender for p in parsed if p is not None and p.message is not None})
            self._caps = Caps(self.connection, self.intake.config, senders, self.intake.clock.now())
            self._known = KnownFacts(self.connection, self.intake.refs, [
                (p.message, p.screening) for p in parsed if p is not None and p.message is not None and
                p.screening is not None and p.message.dedupe_key not in self._stored])

    def file(self, raw: bytes, source: str, parsed: Parsed) -> Outcome:
        message, screening = parsed.message, parsed.screening
        if message is not None and message.dedupe_key in self._stored:
            return _duplicate(message)
        self._next_message()
        if message is None or screening is None:
            with self._refiled_on_failure():
                return self._hold(raw, source, parsed.problem)
        try:
            outcome = _file(self.intake, self.connection, message, screening,
                            self._row_ids.pop() if self._row_ids else None, self._case_ids, self._caps, self._known)
        except Exception as error:
            if is_outage(error, self.intake.engine):
                raise  # only an outage stops the batch: the source keeps its messages for the next pass
            if not self._careful:
                raise Refile from error  # leaving the batch (`with`) rolls its transaction back
            return self._failed(source, raw, message, error)
        self._stored.add(message.dedupe_key)
        return outcome

    def _failed(self, source: str, raw: bytes, message: InboundMessage, error: Exception) -> Outcome:
        """The fate of a message that failed in its own savepoint (or transaction, on SQLite)."""
        # What this one message made the code raise (not an outage) is its own fate: the messages behind it are filed.
        self._roll_back()
        if isinstance(error, IntegrityError) and \
                self.connection.execute(_STORED, {"key": message.dedupe_key}).first() is not None:
            # The unique dedupe key is the duplicate check of last resort: another process may have stored
            # the message a moment ago.
            self._stored.add(message.dedupe_key)
            return _duplicate(message)
        log.exception("could not file a message from %s", source, exc_info=error)
        return self._hold(raw, source, f"processing failed: {describe(error)}")

    def hold_oversized(self, header: bytes, source: str, oversized: Oversized) -> Outcome:
        """Hold a message over the size limit by its header; the message itself stays where the source left it."""
        reason = oversize_reason(oversized.size, self.intake.config.limits.max_message_bytes)
        self._next_message()
        with self._refiled_on_failure():
            item_id = quarantine.hold(self._quarantine, header, source, "email", reason, self.intake.clock.now(),
                                      oversized)
        return Outcome("quarantine", reason, quarantine_id=item_id)

    def _hold(self, raw: bytes, source: str, reason: str) -> Outcome:
        channel = "sms" if source.startswith("sms:") else "email"
        item_id = quarantine.hold(self._quarantine, raw, source, channel, reason, self.intake.clock.now())
        return Outcome("quarantine", reason, quarantine_id=item_id)

    def _begin(self) -> None:
        self.connection.begin()
        skip_disk_wait(self.connection)

    def _next_message(self) -> None:
        """A transaction (SQLite) or a savepoint (PostgreSQL) for the next message, the previous message's
        committed or released in the same step."""
        if self._per_message:
            if self._saving:
                self.connection.commit()
                self._begin()
        elif not self._careful:
            return
        elif not self._saving:
            self.connection.exec_driver_sql(f"SAVEPOINT {_SAVEPOINT}")
        else:
            self.connection.exec_driver_sql(f"RELEASE SAVEPOINT {_SAVEPOINT}; SAVEPOINT {_SAVEPOINT}")
        self._saving = True

    def _roll_back(self) -> None:
        """Undo the failed message: the savepoints the code left open inside it first, then its own."""
        while self.connection.in_nested_transaction():
            nested = self.connection.get_nested_transaction()
            assert nested is not None
            nested.rollback()
        if self._per_message:
            self.connection.rollback()
            self._begin()
        else:
            self.connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")


_SAVEPOINT = "intake_message"
# Keys per duplicate query: a batch is a few hundred messages; SQLite allows 32,766 parameters.
LOOK_UP_CHUNK = 500


def _duplicate(message: InboundMessage) -> Outcome:
    return Outcome("duplicate", f"already stored ({message.dedupe_key.split(':', 1)[0]})")


def _file(intake: Intake, connection: Connection, message: InboundMessage, screening: Screening,
          row_id: int | None, case_ids: CaseIds | None = None, caps: Caps | None = None,
          known: KnownFacts | None = None) -> Outcome:
    """File one message; `row_id`, when given, is the id its row takes (else the database's next), a case it
    opens takes its id from `case_ids` when given, its notice is folded by the batch's `caps` when given, and
    its reference's case is taken from `known` when there (which then forgets what the message changed)."""
    now = intake.clock.now()
    message, screening = read_submission(message, screening, intake.config)
    if intake.archive and message.date is not None:
        now = min(now, message.date)  # an archived message happened when it was written (never later than now)
    identity = identify(message, intake.config)
    # A Core connection, not an ORM session: the session's bookkeeping costs more than the statements of a
    # typical message.
    number = control_number(identity.agency, message)
    # A caseworker's reply to a triage notice is about the held message, whatever references it quotes.
    item = answered_item(connection, message) if identity.role == "staff" and not intake.archive else None
    if item is not None:
        match = CaseMatch(None, "triage-notice", triage_item=item)
    elif identity.role == "constituent" and not screening.is_automatic and status_request(message):
        # Where their cases stand goes only to the constituent's own number or address, whatever else matches.
        match = own_cases(connection, message, MAX_LISTED)
    else:
        match = find_case(connection, message, intake.refs, screening.returned_ids,
                          (identity.agency.key, number) if identity.agency and number else None, now, known)
    if screening.verdict == "bounce":
        link = link_bounce(connection, message, screening, match, intake.refs)
        match = link.match
        screening = replace(screening, failed_recipients=link.failed,
                            reason=screening.reason if link.linked else f"{screening.reason}; {UNLINKED}")
    decision = route(screening, identity, match, message, intake.config, now)
    if intake.archive:
        kept = tuple(e for e in decision.effects if not isinstance(e, CAUSES_MAIL))
        opens = any(isinstance(e, OpenCase) for e in kept)
        decision = replace(decision, effects=kept + ((Archived(intake.archive_status),) if opens else ()))
    applied = apply(connection, message, decision, match.facts, intake.config, intake.refs, intake.letters, now,
                    row_id, case_ids, caps)
    for effect in decision.effects:
        if isinstance(effect, AnswerTriage):
            answer_triage(connection, message, applied.message_row_id, effect.item_id, intake.config,
                          intake.refs, intake.letters, now)
    if known is not None:
        known.filed(message, screening, match, decision, applied.case_ref)
    fate = "new-case" if applied.opened else decision.disposition
    if log.isEnabledFor(logging.INFO):  # redaction is a regex pass per message: only when it is logged
        log.info("message %d from %s: %s (%s)", applied.message_row_id, message.source, fate,
                 intake.refs.redact(decision.reason))
    return Outcome(fate, decision.reason, applied.case_ref)


_STORED = select(Message.id).where(Message.dedupe_key == bindparam("key")).limit(1)
_STORED_KEYS = select(Message.dedupe_key).where(Message.dedupe_key.in_(bindparam("keys", expanding=True)))


def is_stored(engine: Engine, message: InboundMessage) -> bool:
    return is_stored_key(engine, message.dedupe_key)


def is_stored_key(engine: Engine, key: str) -> bool:
    with engine.connect() as connection:
        return connection.execute(_STORED, {"key": key}).first() is not None


def hold_oversized(intake: Intake, header: bytes, source: str, oversized: Oversized) -> Outcome:
    """Hold a message over the size limit by its header, in a transaction of its own."""
    with Batch(intake) as batch:
        return batch.hold_oversized(header, source, oversized)


def retry_quarantined(intake: Intake, item_id: int, parser: Parser, actor: str) -> Outcome:
    """Run a held item through the path again; it leaves quarantine only when it finds another fate.

    An item that holds only the header of an oversized message cannot be: the error says where the
    message is, to be read again from there once the limit allows."""
    with intake.sessions() as session:
        item: QuarantineItem = quarantine.get_held(session, item_id)
        raw, source = item.raw, item.source
        if item.whole_message_at is not None:
            raise UserError(f"quarantine item {item_id}: {item.reason}; only its header is held here, the message "
                            f"is at {item.whole_message_at}: raise the limit and read it again from there, then "
                            "discard this item")
    outcome = process(intake, raw, source, parser)  # a renewed failure updates the same item's reason
    if outcome.fate != "quarantine":
        quarantine.close(intake.sessions, item_id, "retried", actor, intake.clock.now())
    return outcome
