"""Effects -> rows: the message, its attachments, events, cases and outbox rows.

Runs inside the caller's transaction; nothing here commits, so a message's whole outcome is one
commit or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.config import Config
from hub.intake.message import InboundMessage
from hub.intake.route import Decision, MarkBounced, OpenCase, QueueLetter
from hub.models import Attachment, Case, Counter, Event, Message, Party
from hub.outbox import enqueue
from hub.refs import References


@dataclass(frozen=True)
class Applied:
    message: Message  # its id is known once the caller's transaction has been flushed
    case_ref: str | None
    opened: bool


def apply(session: Session, message: InboundMessage, decision: Decision, config: Config, refs: References,
          now: datetime) -> Applied:
    case = session.get(Case, decision.case_id) if decision.case_id is not None else None
    opened = any(isinstance(effect, OpenCase) for effect in decision.effects)
    if opened:
        case = open_case(session, message, config, refs, now)
    row = _store_message(session, message, decision, case, now)
    session.add(Event(case=case, message=row,
                      kind="message-triaged" if decision.disposition == "triage" else "message-received",
                      detail=f"{decision.kind} {message.channel} from {message.source}: {decision.reason}",
                      actor=message.sender, via=message.channel, at=now))
    for effect in decision.effects:
        if isinstance(effect, QueueLetter) and case is not None:
            recipient = case.constituent.email if effect.to == "constituent" and case.constituent else effect.to
            if recipient and "@" in recipient:
                enqueue(session, case=case, letter=effect.letter, recipient=recipient, refs=refs,
                        domain=config.office.domain, now=now, in_reply_to=message.message_id)
        elif isinstance(effect, MarkBounced):
            _mark_bounced(session, effect, case, row, now)
    if case is not None:
        case.updated_at = now
    return Applied(row, case.ref if case else None, opened)


def open_case(session: Session, message: InboundMessage, config: Config, refs: References, now: datetime) -> Case:
    constituent = session.scalar(select(Party).where(Party.role == "constituent", Party.email == message.sender)
                                 .order_by(Party.id).limit(1))
    if constituent is None:
        constituent = Party(role="constituent", name=message.sender_name, email=message.sender, created_at=now)
        session.add(constituent)
    elif not constituent.name and message.sender_name:
        constituent.name = message.sender_name
    year = now.astimezone(ZoneInfo(config.office.timezone)).year % 100
    reference = refs.make(year, _next_sequence(session, f"case-{year:02d}"))
    case = Case(ref=str(reference), status="new", labels=[], subject=message.subject[:1000],
                constituent=constituent, opened_at=now, updated_at=now)
    session.add(case)
    session.add(Event(case=case, kind="case-opened", detail=f"opened from {message.channel}",
                      actor=message.sender, via=message.channel, at=now))
    return case


def _next_sequence(session: Session, name: str) -> int:
    # UPDATE … RETURNING takes the row lock first, so two writers can never get the same number.
    value = session.scalar(update(Counter).where(Counter.name == name)
                           .values(value=Counter.value + 1).returning(Counter.value))
    if value is not None:
        return value
    try:
        with session.begin_nested():
            session.add(Counter(name=name, value=1))
        return 1
    except IntegrityError:
        return _next_sequence(session, name)


def _store_message(session: Session, message: InboundMessage, decision: Decision, case: Case | None,
                   now: datetime) -> Message:
    sent_at = message.date if message.date and message.date <= now + timedelta(days=1) else now
    row = Message(
        case=case if decision.disposition == "case" else None,
        direction="in", channel=message.channel, kind=decision.kind, disposition=decision.disposition,
        reason=decision.reason, triage_case_id=decision.triage_case_id, dedupe_key=message.dedupe_key,
        message_id=message.message_id, in_reply_to=" ".join(message.in_reply_to) or None,
        references=" ".join(message.references) or None, source=message.source[:200],
        sender=message.sender, sender_name=message.sender_name[:200], recipients=list(message.recipients),
        subject=message.subject, body=message.new_text, full_text=message.text, raw=message.raw,
        at=sent_at, received_at=now,
    )
    row.attachments = [Attachment(filename=a.filename, content_type=a.content_type, size=a.size,
                                  oversized=a.oversized, data=a.data) for a in message.attachments]
    session.add(row)
    return row


def _mark_bounced(session: Session, effect: MarkBounced, case: Case | None, row: Message,
                  now: datetime) -> None:
    # Addresses read from a free-text bounce can be wrong; when the bounce is about a known case, only
    # that case's own party can be marked.
    for address in effect.addresses:
        if case is not None:
            parties = [case.constituent] if case.constituent and case.constituent.email == address else []
        else:
            parties = list(session.scalars(select(Party).where(Party.email == address)))
        for party in parties:
            party.bounced_at = now
            party.bounce_reason = effect.reason[:500]
        if parties:
            session.add(Event(case=case, message=row, kind="address-bounced",
                              detail=f"delivery to a party address failed: {effect.reason}", at=now))
