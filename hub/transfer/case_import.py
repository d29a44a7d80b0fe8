"""One case of an export archive, written into this office in the caller's transaction: the case under a new
reference of this office (its old one forwarded), its constituent, every message with its original bytes and
files, its events, reminders and releases as they were. Nothing is queued: no acknowledgement, no notice.

Every value is checked for its type and its column's size before it is written; a case whose record does not
hold raises Damaged and its transaction is rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases.casework import STATUSES
from hub.cases.forwarding import forwarded_case, keep_forwarded
from hub.cases.numbering import next_reference
from hub.core.app import Hub
from hub.core.clock import as_utc
from hub.core.file_store import keep_attachment_bytes, keep_message_raw
from hub.core.models import Attachment, Case, CasePerson, Event, Message, Release, Reminder
from hub.transfer.archive_reader import Archive, Damaged
from hub.transfer.parties import constituent_for

Note = Callable[[str], None]


def import_case(session: Session, hub: Hub, archive: Archive, folder: str, origin: str, now: datetime,
                note: Note) -> tuple[str, str, bool]:
    """(old reference, reference here, whether it was imported now: False when it already was)."""
    record = _dict(archive.json(f"{folder}case.json"), "case.json")
    old_ref = _text(record, "ref", 200)
    connection = session.connection()
    here = forwarded_case(connection, old_ref) or session.scalar(select(Case.id).where(Case.ref == old_ref))
    if here is not None:
        return old_ref, session.get_one(Case, here).ref, False
    status = _text(record, "status", 32)
    if status not in STATUSES:
        raise Damaged(f"case.json: unknown status {status!r}")
    opened_at = _time(record, "opened_at")
    ref = next_reference(connection, hub.refs, opened_at.astimezone(ZoneInfo(hub.config.office.timezone)).year)
    case = Case(ref=ref, status=status, labels=[str(label)[:100] for label in _list(record, "labels")],
                assignee=_optional(record, "assignee", 320), agency=_optional(record, "agency", 32),
                agency_control=_optional(record, "agency_control", 64), subject=_text(record, "subject", 100_000),
                constituent_id=_constituent(session, record.get("constituent"), now), opened_at=opened_at,
                updated_at=_time(record, "updated_at"), closed_at=_optional_time(record, "closed_at"),
                close_reason=_optional(record, "close_reason", 32),
                contact_channel=_text(record, "contact_channel", 8) or "email")
    session.add(case)
    session.flush()
    _note_strangers(hub, case, old_ref, note)
    for former in dict.fromkeys([old_ref, *(_text({"r": r}, "r", 200) for r in _list(record, "former_refs"))]):
        keep_forwarded(connection, hub.refs, former, case, origin, now, note)
    messages, files = _messages(session, archive, folder, case, note)
    _rows(session, archive, folder, case, messages, files)
    _people(session, case, record)
    session.add(Event(case_id=case.id, kind="imported", detail=f"imported from {origin}: was {old_ref}",
                      actor="hub", via="cli", at=now))
    return old_ref, ref, True


def _note_strangers(hub: Hub, case: Case, old_ref: str, note: Note) -> None:
    """An agency or a caseworker this office does not know is kept as it was, and said."""
    if case.agency and hub.config.agency(case.agency) is None:
        note(f"{case.ref} (was {old_ref}): agency {case.agency!r} is not in this office's agencies.toml; kept")
    if case.assignee and not any(person.email.lower() == case.assignee.lower() for person in hub.config.staff):
        note(f"{case.ref} (was {old_ref}): assignee {case.assignee} is not on this office's staff list; kept")


def _constituent(session: Session, person: Any, now: datetime) -> int | None:
    if person is None:
        return None
    person = _dict(person, "constituent")
    contacts = [(_text(c, "kind", 8), _text(c, "value", 320)) for c in map(_dict, _list(person, "contacts"))]
    return constituent_for(session, _text(person, "name", 200), _optional(person, "email", 320),
                           _optional(person, "phone", 32), _optional(person, "address", 10_000),
                           _optional(person, "zip", 16), contacts, now).id


def _messages(session: Session, archive: Archive, folder: str, case: Case,
              note: Note) -> tuple[dict[int, int], dict[tuple[int, int], int]]:
    """({message number: row id}, {(message number, file number): attachment row id})."""
    numbers: dict[int, int] = {}
    files: dict[tuple[int, int], int] = {}
    for fields in map(_dict, _list({"m": archive.json(f"{folder}messages.json")}, "m")):
        number = int(fields["number"])
        key = _text(fields, "dedupe_key", 512)
        if session.scalar(select(Message.id).where(Message.dedupe_key == key)) is not None:
            note(f"{case.ref}: message {fields.get('message_id') or number} is already in this office; not "
                 "imported again")
            continue
        direction = _text(fields, "direction", 3)
        if direction not in ("in", "out"):
            raise Damaged(f"messages.json: message {number} has direction {direction!r}")
        message = Message(
            case_id=case.id, direction=direction, channel=_text(fields, "channel", 8), kind=_text(fields, "kind", 64),
            disposition="case", reason=_text(fields, "reason", 100_000), dedupe_key=key,
            message_id=_optional(fields, "message_id", 998), in_reply_to=_optional(fields, "in_reply_to", 100_000),
            references=_optional(fields, "references", 1_000_000), source=_text(fields, "source", 200),
            sender=_text(fields, "sender", 320), sender_name=_text(fields, "sender_name", 200),
            recipients=[_text({"r": r}, "r", 320) for r in _list(fields, "recipients")],
            subject=_text(fields, "subject", 100_000), body=_text(fields, "body", 50_000_000),
            full_text=_text(fields, "full_text", 50_000_000), at=_time(fields, "at"),
            received_at=_time(fields, "received_at"))
        items = list(map(_dict, _list(fields, "attachments")))
        data = [archive.read(_text(item, "file", 300)) if item.get("file") is not None else None for item in items]
        if fields.get("eml") is not None:  # its files stored once, as when the mail was first filed
            keep_message_raw(session, message, archive.read(_text(fields, "eml", 300)),
                             [file for file in data if file is not None])
        session.add(message)
        session.flush()
        numbers[number] = message.id
        for item, file in zip(items, data, strict=True):
            attachment = Attachment(message_id=message.id, filename=_text(item, "filename", 500),
                                    content_type=_text(item, "content_type", 200), size=int(item["size"]),
                                    oversized=bool(item.get("oversized")), inline=bool(item.get("inline")))
            if file is not None:
                keep_attachment_bytes(session, attachment, file)
            session.add(attachment)
            session.flush()
            files[(number, int(item["number"]))] = attachment.id
    return numbers, files


def _rows(session: Session, archive: Archive, folder: str, case: Case, numbers: dict[int, int],
          files: dict[tuple[int, int], int]) -> None:
    """Events, reminders, releases and the case's other people, as they were."""
    for item in map(_dict, _list({"e": archive.json(f"{folder}events.json")}, "e")):
        session.add(Event(case_id=case.id, message_id=numbers.get(item.get("message") or 0),
                          kind=_text(item, "kind", 64), detail=_text(item, "detail", 1_000_000),
                          actor=_text(item, "actor", 320), via=_text(item, "via", 16), at=_time(item, "at")))
    for item in map(_dict, _list({"r": archive.json(f"{folder}reminders.json")}, "r")):
        session.add(Reminder(case_id=case.id, kind=_text(item, "kind", 32), due_at=_time(item, "due_at"),
                             state=_text(item, "state", 16), note=_text(item, "note", 100_000),
                             created_at=_time(item, "created_at"), closed_at=_optional_time(item, "closed_at"),
                             closed_by=_text(item, "closed_by", 100_000), owner=_text(item, "owner", 320)))
    for item in map(_dict, _list({"r": archive.json(f"{folder}releases.json")}, "r")):
        evidence = item.get("attachment")
        session.add(Release(
            case_id=case.id, received_on=_date(item, "received_on"), signed_on=_date(item, "signed_on"),
            method=_text(item, "method", 32), scope=[_text({"s": s}, "s", 32) for s in _list(item, "scope")],
            attachment_id=files.get((int(evidence[0]), int(evidence[1]))) if isinstance(evidence, list) and
            len(evidence) == 2 else None, message_id=numbers.get(item.get("message") or 0),
            recorded_by=_text(item, "recorded_by", 320), via=_text(item, "via", 16),
            created_at=_time(item, "created_at")))
    session.flush()


def _people(session: Session, case: Case, record: dict[str, Any]) -> None:
    """The spouse or representative on the case (an archive from before they were exported has none)."""
    for item in map(_dict, _list(record, "people")):
        session.add(CasePerson(case_id=case.id, name=_text(item, "name", 200), role=_text(item, "role", 32),
                               email=_optional(item, "email", 320), phone=_optional(item, "phone", 32),
                               created_at=_time(item, "created_at")))


def _dict(value: Any, what: str = "an item") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Damaged(f"{what} is not a JSON object")
    return value


def _list(record: dict[str, Any], key: str) -> list[Any]:
    value = record.get(key) or []
    if not isinstance(value, list):
        raise Damaged(f"{key!r} is not a list")
    return value


def _text(record: dict[str, Any], key: str, limit: int) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise Damaged(f"{key!r} is not text of at most {limit:,} characters")
    return value


def _optional(record: dict[str, Any], key: str, limit: int) -> str | None:
    return _text(record, key, limit) or None


def _time(record: dict[str, Any], key: str) -> datetime:
    found = _optional_time(record, key)
    if found is None:
        raise Damaged(f"{key!r} is missing")
    return found


def _optional_time(record: dict[str, Any], key: str) -> datetime | None:
    text = _text(record, key, 64)
    try:
        return as_utc(datetime.fromisoformat(text)) if text else None
    except ValueError:
        raise Damaged(f"{key!r} is not an ISO 8601 time: {text!r}") from None


def _date(record: dict[str, Any], key: str) -> date:
    try:
        return date.fromisoformat(_text(record, key, 10))
    except ValueError:
        raise Damaged(f"{key!r} is not a date") from None
