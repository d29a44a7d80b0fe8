"""Cases as plain data for the command line: the JSON contract of `hub cases` and `hub case show`.

Field names are stable (scripts rely on them); times are ISO 8601 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from hub.cases.due_dates import OVERDUE_KINDS
from hub.cases.forwarding import forwarded_case
from hub.cases.people import people_of
from hub.core.district import in_district
from hub.core.errors import NotFoundError
from hub.core.models import Case, Event, Message, Outbox, PartyContact, Release, Reminder
from hub.core.refs import References
from hub.letters.templates import TO_STAFF


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def case_summary(case: Case) -> dict[str, Any]:
    person = case.constituent
    return {
        "ref": case.ref,
        "status": case.status,
        "labels": list(case.labels or []),
        "assignee": case.assignee,
        "agency": case.agency,
        "subject": case.subject,
        "constituent": {
            "name": person.name if person else "",
            "email": person.email if person else None,
            "phone": person.phone if person else None,
            "address": person.postal_address if person else None,
            "zip": person.zip_code if person else None,
        },
        "opened_at": iso(case.opened_at),
        "updated_at": iso(case.updated_at),
        "closed_at": iso(case.closed_at),
    }


def message_view(message: Message) -> dict[str, Any]:
    return {
        "direction": message.direction,
        "channel": message.channel,
        "sender": message.sender,
        "recipients": list(message.recipients or []),
        "subject": message.subject,
        "body": message.body,
        "message_id": message.message_id,
        "kind": message.kind,
        "at": iso(message.at),
        "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size,
                         "oversized": a.oversized} for a in message.attachments],
    }


def outbox_view(row: Outbox) -> dict[str, Any]:
    return {"letter": row.letter, "channel": row.channel, "recipient": row.recipient, "state": row.state,
            "message_id": row.message_id, "created_at": iso(row.created_at), "sent_at": iso(row.sent_at)}


@dataclass(frozen=True)
class CaseFilter:
    """Which cases `hub cases` lists: each field given narrows the list (all of them together)."""

    status: str | None = None
    assignee: str | None = None  # a staff address
    agency: str | None = None  # an agency key
    label: str | None = None
    older_than_days: int | None = None  # opened more than this many days ago
    overdue: bool = False  # a follow-up, check-in or agency answer past its day and still pending
    waiting_on: str | None = None  # "agency" | "constituent"
    still_open: bool = False  # every status but closed


WAITING_ON = {"agency": "pending-agency", "constituent": "pending-constituent"}


def list_cases(session: Session, wanted: CaseFilter = CaseFilter(),
               now: datetime | None = None) -> list[dict[str, Any]]:
    query = select(Case).order_by(Case.id)
    for column, value in ((Case.status, wanted.status), (Case.assignee, wanted.assignee),
                          (Case.agency, wanted.agency), (Case.status, WAITING_ON.get(wanted.waiting_on or ""))):
        if value:
            query = query.where(column == value)
    if wanted.still_open:
        query = query.where(Case.status != "closed")
    if wanted.older_than_days is not None or wanted.overdue:
        assert now is not None, "age and overdue are counted from now"
        if wanted.older_than_days is not None:
            query = query.where(Case.opened_at < now - timedelta(days=wanted.older_than_days))
        if wanted.overdue:
            query = query.where(select(Reminder.id).where(
                Reminder.case_id == Case.id, Reminder.state == "pending", Reminder.kind.in_(OVERDUE_KINDS),
                Reminder.due_at < now).exists())
    counts = message_counts(session, query.with_only_columns(Case.id).order_by(None))
    # Labels are a JSON list, read alike on both databases here rather than by each one's JSON operators.
    return [case_summary(case) | {"message_count": counts.get(case.id, 0)} for case in session.scalars(query)
            if wanted.label is None or wanted.label in (case.labels or [])]


def find_case(session: Session, refs: References, text: str) -> Case:
    """The case named by a reference as a person types it; the check code must verify, or the reference must be one
    another office gave a case imported here (hub.cases.forwarding)."""
    reference = refs.parse(text)
    case = session.scalar(select(Case).where(Case.ref == str(reference))) if reference else None
    if case is None and (forwarded := forwarded_case(session.connection(), text.strip().strip("[]"))) is not None:
        case = session.get(Case, forwarded)
    if case is None:
        raise NotFoundError(f"no case {text!r}" + ("" if reference else " (not a valid reference)"))
    return case


def case_detail(session: Session, case: Case, zip_codes: tuple[str, ...] = ()) -> dict[str, Any]:
    """`zip_codes`: the district's ([office] zip_codes), for the constituent's `in_district`."""
    view = case_summary(case)
    view["constituent"]["in_district"] = in_district(view["constituent"]["zip"], zip_codes)
    view["contacts"] = [{"kind": c.kind, "value": c.value} for c in session.scalars(
        select(PartyContact).where(PartyContact.party_id == case.constituent_id).order_by(PartyContact.id))]
    view["people"] = [{"name": p.name, "role": p.role, "email": p.email, "phone": p.phone}
                      for p in people_of(session, case.id)]
    messages = session.scalars(select(Message).where(Message.case_id == case.id).order_by(Message.at, Message.id))
    view["messages"] = [message_view(m) for m in messages]
    view["outbox"] = [outbox_view(o) for o in session.scalars(
        select(Outbox).where(Outbox.case_id == case.id).order_by(Outbox.id))]
    view["reminders"] = [{"kind": r.kind, "due_at": iso(r.due_at), "state": r.state, "note": r.note}
                         for r in session.scalars(select(Reminder).where(Reminder.case_id == case.id)
                                                  .order_by(Reminder.due_at))]
    view["releases"] = [{"signed_on": r.signed_on.isoformat(), "received_on": r.received_on.isoformat(),
                         "method": r.method, "agencies": list(r.scope or []), "recorded_by": r.recorded_by,
                         "evidence_attachment": r.attachment_id, "evidence_message": r.message_id}
                        for r in session.scalars(select(Release).where(Release.case_id == case.id)
                                                 .order_by(Release.signed_on))]
    view["events"] = [{"kind": e.kind, "detail": e.detail, "actor": e.actor, "via": e.via, "at": iso(e.at)}
                      for e in session.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.id))]
    return view


def triage_list(session: Session) -> list[dict[str, Any]]:
    """Messages waiting for a caseworker to decide where they belong, oldest first."""
    rows = session.execute(select(Message, Case.ref).outerjoin(Case, Case.id == Message.triage_case_id)
                           .where(Message.disposition == "triage").order_by(Message.id))
    return [{"id": message.id, "reason": message.reason, "candidate_case": ref} | message_view(message)
            for message, ref in rows]


INTERNAL_KINDS = tuple(f"letter:{name}" for name in TO_STAFF)


def message_counts(session: Session, cases: Select[Any]) -> dict[int, int]:
    """Messages with the constituent and the agency on each of `cases` (a query of case ids); the hub's notices
    to staff are not counted."""
    rows = session.execute(select(Message.case_id, func.count())
                           .where(Message.case_id.in_(cases), Message.kind.not_in(INTERNAL_KINDS))
                           .group_by(Message.case_id))
    return {case_id: count for case_id, count in rows if case_id is not None}
