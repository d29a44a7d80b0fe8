"""One case as the plain data of an export: the case and its constituent, its events, reminders and releases,
and each message's fields with the entries that hold its bytes and its files.

Messages are read one at a time and let go, so that a case with years of mail does not sit in memory; their
bytes are read only through hub.core.file_store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases.people import people_of
from hub.cases.views import iso
from hub.core.file_store import attachment_bytes, message_raw
from hub.core.models import Case, Event, ForwardedRef, Message, Party, PartyContact, Release, Reminder

# Writes one entry of the archive (its name, its bytes) and returns the name.
AddEntry = Callable[[str, bytes], str]


def case_fields(session: Session, case: Case) -> dict[str, Any]:
    merged_into = session.scalar(select(Case.ref).where(Case.id == case.merged_into_id)) \
        if case.merged_into_id else None
    former = list(session.scalars(select(ForwardedRef.old_ref).where(ForwardedRef.case_id == case.id)
                                  .order_by(ForwardedRef.id)))
    return {"ref": case.ref, "status": case.status, "labels": list(case.labels or []), "assignee": case.assignee,
            "agency": case.agency, "agency_control": case.agency_control, "subject": case.subject,
            "opened_at": iso(case.opened_at), "updated_at": iso(case.updated_at), "closed_at": iso(case.closed_at),
            "close_reason": case.close_reason, "contact_channel": case.contact_channel, "merged_into": merged_into,
            "former_refs": former, "constituent": _constituent(session, case.constituent),
            "people": [{"name": person.name, "role": person.role, "email": person.email, "phone": person.phone,
                        "created_at": iso(person.created_at)} for person in people_of(session, case.id)]}


def _constituent(session: Session, party: Party | None) -> dict[str, Any] | None:
    if party is None:
        return None
    contacts = session.scalars(select(PartyContact).where(PartyContact.party_id == party.id)
                               .order_by(PartyContact.id))
    return {"name": party.name, "email": party.email, "phone": party.phone, "address": party.postal_address,
            "zip": party.zip_code, "bounced_at": iso(party.bounced_at), "bounce_reason": party.bounce_reason,
            "contacts": [{"kind": c.kind, "value": c.value} for c in contacts]}


def messages(session: Session, case: Case, folder: str, add: AddEntry,
             file_name: Callable[[int, int, str], str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row id, fields) of each message on the case, oldest first, its bytes and files written by `add`."""
    ids = list(session.scalars(select(Message.id).where(Message.case_id == case.id)
                               .order_by(Message.at, Message.id)))
    for number, row_id in enumerate(ids, 1):
        message = session.get_one(Message, row_id)
        raw = message_raw(session, message)
        files = []
        for index, attachment in enumerate(message.attachments, 1):
            data = attachment_bytes(session, attachment)
            files.append({"number": index, "filename": attachment.filename, "content_type": attachment.content_type,
                          "size": attachment.size, "oversized": attachment.oversized, "inline": attachment.inline,
                          "attachment_id": attachment.id,
                          "file": add(file_name(number, index, attachment.filename), data)
                          if data is not None else None})
        yield row_id, {
            "number": number, "direction": message.direction, "channel": message.channel, "kind": message.kind,
            "disposition": message.disposition, "reason": message.reason, "dedupe_key": message.dedupe_key,
            "message_id": message.message_id, "in_reply_to": message.in_reply_to, "references": message.references,
            "source": message.source, "sender": message.sender, "sender_name": message.sender_name,
            "recipients": list(message.recipients or []), "subject": message.subject, "body": message.body,
            "full_text": message.full_text, "at": iso(message.at), "received_at": iso(message.received_at),
            "eml": add(f"{folder}messages/{number:04d}.eml", raw) if raw is not None else None,
            "attachments": files}
        session.expunge(message)
        for attachment in message.attachments:
            session.expunge(attachment)


def events(session: Session, case: Case, numbers: dict[int, int]) -> list[dict[str, Any]]:
    """`numbers`: message row id -> its number in the archive."""
    return [{"kind": e.kind, "detail": e.detail, "actor": e.actor, "via": e.via, "at": iso(e.at),
             "message": numbers.get(e.message_id) if e.message_id else None}
            for e in session.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.at, Event.id))]


def reminders(session: Session, case: Case) -> list[dict[str, Any]]:
    return [{"kind": r.kind, "due_at": iso(r.due_at), "state": r.state, "note": r.note,
             "created_at": iso(r.created_at), "closed_at": iso(r.closed_at), "closed_by": r.closed_by,
             "owner": r.owner}
            for r in session.scalars(select(Reminder).where(Reminder.case_id == case.id).order_by(Reminder.id))]


def releases(session: Session, case: Case, numbers: dict[int, int],
             files: dict[int, tuple[int, int]]) -> list[dict[str, Any]]:
    """`files`: attachment row id -> (message number, attachment number) in the archive."""
    return [{"received_on": r.received_on.isoformat(), "signed_on": r.signed_on.isoformat(), "method": r.method,
             "scope": list(r.scope or []), "recorded_by": r.recorded_by, "via": r.via,
             "created_at": iso(r.created_at), "message": numbers.get(r.message_id) if r.message_id else None,
             "attachment": list(files[r.attachment_id]) if r.attachment_id in files else None}
            for r in session.scalars(select(Release).where(Release.case_id == case.id).order_by(Release.id))]
