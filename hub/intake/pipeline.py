"""The inbound path, named once and in order: parse, screen, identify, thread, route, apply.

Every channel hands raw bytes to `process`; each message gets its own transaction and one fate —
on a case, in triage, a duplicate of one already stored, or in quarantine with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub import quarantine
from hub.clock import Clock
from hub.config import Config
from hub.db import skip_disk_wait
from hub.errors import QuarantineError
from hub.intake.apply import apply
from hub.intake.identify import identify
from hub.intake.message import InboundMessage
from hub.intake.route import CaseFacts, route
from hub.intake.screen import screen
from hub.intake.thread import CaseMatch, find_case
from hub.models import Case, Message, Party, QuarantineItem
from hub.refs import References

log = logging.getLogger(__name__)
Parser = Callable[[bytes, str, int], InboundMessage]


@dataclass(frozen=True)
class Outcome:
    fate: str  # "new-case" | "case" | "triage" | "duplicate" | "quarantine"
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

    @classmethod
    def build(cls, config: Config, sessions: sessionmaker[Session], clock: Clock) -> Intake:
        return cls(config, sessions, References(config.office.reference_prefix, config.office.secret), clock)


@dataclass(frozen=True)
class Parsed:
    """What the parse stage made of raw bytes: a message, or why it goes to quarantine.

    Plain data, so the stage can run in another process while this one files the previous batch."""

    message: InboundMessage | None
    problem: str = ""


def parse_stage(raw: bytes, source: str, parser: Parser, max_message_bytes: int,
                max_attachment_bytes: int) -> Parsed:
    if len(raw) > max_message_bytes:
        return Parsed(None, f"message of {len(raw)} bytes is over the {max_message_bytes}-byte limit")
    try:
        return Parsed(parser(raw, source, max_attachment_bytes))
    except QuarantineError as error:
        return Parsed(None, str(error))


def process(intake: Intake, raw: bytes, source: str, parser: Parser) -> Outcome:
    """Take one raw message through the whole path. Database outages propagate; all else has a fate."""
    limits = intake.config.limits
    return file_parsed(intake, raw, source,
                       parse_stage(raw, source, parser, limits.max_message_bytes, limits.max_attachment_bytes))


def file_parsed(intake: Intake, raw: bytes, source: str, parsed: Parsed) -> Outcome:
    """The rest of the path for a message already through the parse stage."""
    if parsed.message is None:
        return _quarantine(intake, raw, source, parsed.problem)
    try:
        return _file(intake, parsed.message)
    except IntegrityError:
        # Another process stored the same message between our duplicate check and our commit.
        return Outcome("duplicate", "stored concurrently")
    except OperationalError:
        raise
    except (QuarantineError, SQLAlchemyError, ValueError, TypeError, LookupError, AttributeError) as error:
        log.exception("could not file a message from %s", source)
        return _quarantine(intake, raw, source, f"processing failed: {type(error).__name__}: {error}")


def _file(intake: Intake, message: InboundMessage) -> Outcome:
    now = intake.clock.now()
    with intake.sessions.begin() as session:
        skip_disk_wait(session)
        if is_duplicate(session, message):
            return Outcome("duplicate", f"already stored ({message.dedupe_key.split(':', 1)[0]})")
        screening = screen(message, intake.config.office.domain)
        identity = identify(message.sender, intake.config)
        match = find_case(session, message, intake.refs, screening.returned_ids)
        facts = _facts(session, match)
        decision = route(screening, identity, match, facts, message.sender)
        applied = apply(session, message, decision, facts, intake.config, intake.refs, now)
    fate = "new-case" if applied.opened else decision.disposition
    if log.isEnabledFor(logging.INFO):  # redaction is a regex pass per message: only when it is logged
        log.info("message %d from %s: %s (%s)", applied.message_row_id, message.source, fate,
                 intake.refs.redact(decision.reason))
    return Outcome(fate, decision.reason, applied.case_ref)


_DUPLICATE = select(Message.id).where(Message.dedupe_key == bindparam("key")).limit(1)
_FACTS = (select(Case.ref, Party.email, Case.agency, Case.constituent_id)
          .outerjoin(Party, Party.id == Case.constituent_id).where(Case.id == bindparam("case_id")))


def is_duplicate(session: Session, message: InboundMessage) -> bool:
    return session.connection().execute(_DUPLICATE, {"key": message.dedupe_key}).first() is not None


def _facts(session: Session, match: CaseMatch) -> CaseFacts | None:
    if match.case_id is None:
        return None
    ref, email, agency, constituent_id = session.connection().execute(_FACTS, {"case_id": match.case_id}).one()
    return CaseFacts(match.case_id, ref, email, agency, constituent_id)


def _quarantine(intake: Intake, raw: bytes, source: str, reason: str) -> Outcome:
    item_id = quarantine.hold(intake.sessions, raw, source, "email", reason, intake.clock.now())
    return Outcome("quarantine", reason, quarantine_id=item_id)


def retry_quarantined(intake: Intake, item_id: int, parser: Parser, actor: str) -> Outcome:
    """Run a held item through the path again; it leaves quarantine only when it finds another fate."""
    with intake.sessions() as session:
        item: QuarantineItem = quarantine.get_held(session, item_id)
        raw, source = item.raw, item.source
    outcome = process(intake, raw, source, parser)  # a renewed failure updates the same item's reason
    if outcome.fate != "quarantine":
        quarantine.close(intake.sessions, item_id, "retried", actor, intake.clock.now())
    return outcome
