"""Merging two cases: everything on one case moves to the case kept, and the merged case closes.

Messages (with their attachments), events, releases, letters in the outbox, reminders and the case's other
people move (one already on the kept case by name takes the contact it lacks); the
merged case is closed as "merged into REF" and remembers where it went (`merged_into_id`), so mail that
quotes its reference threads to the kept case (hub.intake.thread). The closing sends nothing: the
constituent's matter goes on, on the kept case.

Pending reminders: a caseworker's follow-up moves as it is; a check-in, agency follow-up or nudge moves
unless the kept case has a pending one of the same kind, in which case it is cancelled as a duplicate
(one check-in, not two); a closing letter or survey of an already closed merged case is cancelled, since
the matter is still open on the kept case. Reminders done or cancelled move as history. The search index
follows by itself: it is keyed by the rows' ids, and a hit's case is read from the row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hub.cases import due_dates
from hub.cases.casework import Actor, CaseworkError, record
from hub.cases.people import people_of
from hub.core.models import Attachment, Case, Event, Message, Outbox, Party, Release, Reminder

# Reminders a case has at most one of pending; another one from the merged case is a duplicate.
ONE_PER_CASE = (due_dates.CHECKIN, due_dates.AGENCY_FOLLOWUP, due_dates.NUDGE)
# What belongs to a closing the merge undoes: the kept case is still open.
OF_CLOSING = (due_dates.CLOSING, due_dates.SURVEY)


def merge(session: Session, merged: Case, kept: Case, actor: Actor, now: datetime, force: bool = False) -> str:
    """Folds `merged` into `kept`; returns the confirmation line naming both cases and their constituents."""
    refuse_merge(session, merged, kept, force)
    counts = _move(session, merged, kept, now)
    session.execute(update(Case).where(Case.merged_into_id == merged.id).values(merged_into_id=kept.id))
    merged.status, merged.closed_at, merged.merged_into_id = "closed", now, kept.id
    merged.close_reason = f"merged into {kept.ref}"[:32]
    summary = ", ".join(f"{count} {what}" for what, count in counts.items() if count) or "nothing to move"
    record(session, kept, actor, "merged", f"{merged.ref} merged into this case: {summary}", now)
    record(session, merged, actor, "merged-into", f"merged into {kept.ref}: {summary}", now)
    return (f"{merged.ref} ({constituent_of(session, merged)}) merged into {kept.ref} "
            f"({constituent_of(session, kept)}): {summary}")


def refuse_merge(session: Session, merged: Case, kept: Case, force: bool) -> None:
    """CaseworkError when the merge may not be made as asked."""
    if merged.id == kept.id:
        raise CaseworkError(f"merge {merged.ref}: a case cannot be merged into itself")
    for case in (merged, kept):
        if case.merged_into_id is not None:
            into = session.scalar(select(Case.ref).where(Case.id == case.merged_into_id))
            raise CaseworkError(f"merge {merged.ref} into {kept.ref}: {case.ref} is already merged into {into}")
    if not force and not _same_constituent(session, merged, kept):
        raise CaseworkError(f"merge {merged.ref} into {kept.ref}: the constituents differ "
                            f"({constituent_of(session, merged)}; {constituent_of(session, kept)}); "
                            "add force to merge them anyway")


def constituent_of(session: Session, case: Case) -> str:
    party = session.get(Party, case.constituent_id) if case.constituent_id else None
    if party is None:
        return "no constituent"
    contact = party.email or party.phone or ""
    return f"{party.name} <{contact}>" if party.name and contact else party.name or contact or "no constituent"


def _same_constituent(session: Session, merged: Case, kept: Case) -> bool:
    if merged.constituent_id == kept.constituent_id:
        return True
    one, other = (session.get(Party, c.constituent_id) if c.constituent_id else None for c in (merged, kept))
    if one is None or other is None:
        return one is None and other is None
    same_email = bool(one.email) and (one.email or "").lower() == (other.email or "").lower()
    return same_email or (bool(one.phone) and one.phone == other.phone)


def _move(session: Session, merged: Case, kept: Case, now: datetime) -> dict[str, int]:
    attachments = session.scalar(select(func.count()).select_from(Attachment).join(Message)
                                 .where(Message.case_id == merged.id)) or 0
    cancelled = _settle_reminders(session, merged, kept, now)
    counts = {"messages": _moved(session, Message, merged, kept), "attachments": attachments,
              "events": _moved(session, Event, merged, kept), "releases": _moved(session, Release, merged, kept),
              "letters": _moved(session, Outbox, merged, kept), "reminders": _moved(session, Reminder, merged, kept),
              "reminders cancelled": cancelled, "people": _move_people(session, merged, kept)}
    session.execute(update(Message).where(Message.triage_case_id == merged.id).values(triage_case_id=kept.id))
    return counts


def _move_people(session: Session, merged: Case, kept: Case) -> int:
    """The merged case's people join the kept case; one of the same name there takes the contact it lacks."""
    on_kept = {person.name.casefold(): person for person in people_of(session, kept.id)}
    moved = 0
    for person in people_of(session, merged.id):
        same = on_kept.get(person.name.casefold())
        if same is None:
            person.case_id = kept.id
            moved += 1
            continue
        same.email, same.phone = same.email or person.email, same.phone or person.phone
        session.delete(person)
    session.flush()
    return moved


def _moved(session: Session, table: type[Message | Event | Release | Outbox | Reminder], merged: Case,
           kept: Case) -> int:
    result = session.execute(update(table).where(table.case_id == merged.id).values(case_id=kept.id)
                             .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _settle_reminders(session: Session, merged: Case, kept: Case, now: datetime) -> int:
    """Cancels the merged case's pending reminders the kept case must not have twice; returns how many."""
    kept_kinds = set(session.scalars(select(Reminder.kind).where(Reminder.case_id == kept.id,
                                                                 Reminder.state == "pending")))
    cancelled = 0
    for reminder in session.scalars(select(Reminder).where(Reminder.case_id == merged.id,
                                                           Reminder.state == "pending")):
        if reminder.kind in OF_CLOSING or reminder.kind in kept_kinds and reminder.kind in ONE_PER_CASE:
            why = "case merged" if reminder.kind in OF_CLOSING else f"duplicate on merging into {kept.ref}"
            reminder.state, reminder.closed_at, reminder.closed_by = "cancelled", now, why
            cancelled += 1
        elif reminder.kind in ONE_PER_CASE:
            kept_kinds.add(reminder.kind)
    session.flush()
    return cancelled
