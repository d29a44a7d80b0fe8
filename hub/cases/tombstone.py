"""Turning a long-closed case into its tombstone: the personal data goes, the record that the case existed stays.

What stays is what the reports, the threading of a late reply and the audit need: the case's reference, its
dates, status and close reason (the outcome), agency and the agency's control number, labels (issue areas),
assignee and contact channel; each message's row with its direction, channel, kind, dates and Message-IDs;
each letter's row with its template, state, sender and dates; events with their kind, actor and time;
reminders; releases' dates, method and scope; files' types and sizes. What goes is everything written by
or about the person: subjects, bodies, the original mail, files' bytes and names, addresses on messages and
letters, the letters' rendered text and context, the reasons recorded on messages, notes and every event's
detail, reminders' notes, and a constituent's address or number where an event names them as its actor.

The constituent's party (name, address, number, postal address, ZIP, further contacts) is blanked only when
none of their cases keeps its records: a party shared with an open case, or with a case closed more
recently, stays as it is until its last case is purged. The search index follows by its triggers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, delete, exists, select, update
from sqlalchemy.orm import Session, defer, selectinload

from hub.core.file_store import forget_attachment_bytes, forget_message_raw
from hub.core.models import Case, Event, Message, Outbox, Party, PartyContact, Reminder

PURGED = "purged"
# What an event's actor becomes where it was the constituent's own address or number.
CONSTITUENT = "constituent"
NOT_SENT = ("pending", "sending")


@dataclass(frozen=True)
class Emptied:
    """What one purge emptied."""

    messages: int = 0
    files: int = 0
    bytes: int = 0  # original mail and files' bytes, as stored


def is_tombstone(case: type[Case] = Case) -> ColumnElement[bool]:
    """SQL: the case was purged and has not changed since (a message, a note, a reopening bumps updated_at)."""
    return exists().where(Event.case_id == case.id, Event.kind == PURGED, Event.at >= case.updated_at)


def bury(session: Session, case: Case, now: datetime, why: str, sizes: Emptied) -> None:
    """Empty `case` down to its tombstone, in the caller's transaction, and record it on the case."""
    personal = _constituent_values(session, case)
    _empty_messages(session, select(Message.id).where(Message.case_id == case.id))
    session.execute(update(Outbox).where(Outbox.case_id == case.id, Outbox.state.in_(NOT_SENT))
                    .values(state="cancelled", error="case purged"))
    session.execute(update(Outbox).where(Outbox.case_id == case.id)
                    .values(recipient="", subject=None, body=None, context={}, about=None, error=""))
    session.execute(update(Event).where(Event.case_id == case.id).values(detail=""))
    if personal:
        session.execute(update(Event).where(Event.case_id == case.id, Event.actor.in_(personal))
                        .values(actor=CONSTITUENT))
    session.execute(update(Reminder).where(Reminder.case_id == case.id, Reminder.state == "pending")
                    .values(state="cancelled", closed_at=now, closed_by="case purged"))
    session.execute(update(Reminder).where(Reminder.case_id == case.id).values(note=""))
    case.subject = ""
    if case.constituent_id is not None and not _kept_elsewhere(session, case):
        forget_party(session, case.constituent_id)
    session.add(Event(case_id=case.id, kind=PURGED, detail=f"{why}: {sizes.messages} messages, {sizes.files} "
                      f"files, {sizes.bytes} bytes", actor="hub", via="rule", at=now))
    case.updated_at = now


def empty_messages(session: Session, message_ids: list[int]) -> None:
    """Empty these messages (rows on no case: dismissed from triage, staff commands) as a purge does."""
    _empty_messages(session, select(Message.id).where(Message.id.in_(message_ids)))


def _empty_messages(session: Session, which: Select[int]) -> None:
    rows = session.scalars(select(Message).where(Message.id.in_(which))
                           .options(defer(Message.raw_skeleton), selectinload(Message.attachments)))
    for message in rows:
        forget_message_raw(session, message)
        for attachment in message.attachments:
            forget_attachment_bytes(session, attachment)
            attachment.filename = ""
        # The reason too: a bounce's or a placing's reason can quote addresses.
        message.subject = message.body = message.full_text = message.sender = message.sender_name = ""
        message.reason = ""
        message.recipients = []
    session.flush()


def forget_party(session: Session, party_id: int) -> None:
    """Blank a constituent's name, addresses and numbers, and their further contacts."""
    session.execute(update(Party).where(Party.id == party_id).values(
        name="", email=None, phone=None, postal_address=None, zip_code=None, bounce_reason=None))
    session.execute(delete(PartyContact).where(PartyContact.party_id == party_id))


def _kept_elsewhere(session: Session, case: Case) -> bool:
    """Another case of the same constituent still keeps its records (open, or not purged since it changed)."""
    other = select(Case.id).where(Case.constituent_id == case.constituent_id, Case.id != case.id, ~is_tombstone())
    return session.scalar(other.limit(1)) is not None


def _constituent_values(session: Session, case: Case) -> list[str]:
    """The constituent's addresses and numbers, as events name them when they acted."""
    if case.constituent_id is None:
        return []
    party = session.get(Party, case.constituent_id)
    listed = session.scalars(select(PartyContact.value).where(PartyContact.party_id == case.constituent_id))
    return [value for value in (party.email if party else None, party.phone if party else None, *listed) if value]
