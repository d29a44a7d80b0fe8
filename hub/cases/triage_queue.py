"""The triage queue: messages held for a caseworker to place, the cases they likely belong to, and their leaving.

A held message is an inbound row with the disposition "triage" and no case. It leaves the queue when a caseworker
files it on a case (hub.intake.triage_filing: its disposition becomes "case") or dismisses it (DISMISSED); its
reason then says who placed it, how, and why it had been held, so the row alone tells its story.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update

from hub.core.errors import NotFoundError, UserError
from hub.core.models import Case, Event, Message, Party

WAITING = "triage"
DISMISSED = "dismissed"
# The start of a placed message's reason; what follows names the case, the person and the original reason.
FILED = "filed from triage"
# A notice lists at most this many likely cases; names are looked for in the text of at most this many open cases.
SHOWN_LIKELY = 5
NAMES_SCANNED = 2000

_CASE_COLUMNS = (Case.ref, Case.subject, Case.status, Party.name)
_BY_CONSTITUENT = (select(*_CASE_COLUMNS).join(Party, Party.id == Case.constituent_id)
                   .where(or_(Party.email == bindparam("sender"), Party.phone == bindparam("sender")))
                   .order_by(Case.updated_at.desc()).limit(SHOWN_LIKELY))
_BY_EARLIER_MAIL = (select(*_CASE_COLUMNS).join(Message, Message.case_id == Case.id)
                    .outerjoin(Party, Party.id == Case.constituent_id)
                    .where(Message.sender == bindparam("sender"), Message.direction == "in")
                    .order_by(Message.received_at.desc()).limit(SHOWN_LIKELY * 4))
_BY_CONTROL = (select(*_CASE_COLUMNS).outerjoin(Party, Party.id == Case.constituent_id)
               .where(Case.agency == bindparam("agency"), Case.agency_control == bindparam("number"))
               .order_by(Case.id.desc()).limit(SHOWN_LIKELY))
_BY_NAME = (select(*_CASE_COLUMNS).join(Party, Party.id == Case.constituent_id)
            .where(func.lower(Party.name) == bindparam("name")).order_by(Case.updated_at.desc()).limit(SHOWN_LIKELY))
_OPEN_OF_AGENCY = (select(*_CASE_COLUMNS).join(Party, Party.id == Case.constituent_id)
                   .where(Case.agency == bindparam("agency"), Case.status != "closed")
                   .order_by(Case.updated_at.desc()).limit(NAMES_SCANNED))


@dataclass(frozen=True)
class Likely:
    """A case a held message may belong to, and why it is thought so."""

    ref: str
    subject: str
    status: str
    constituent: str
    why: tuple[str, ...]

    def line(self) -> str:
        who = self.constituent or "(no name on file)"
        return f"{self.ref}  {who}, {self.subject[:60]!r} ({self.status}): {'; '.join(self.why)}"

    def as_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "subject": self.subject, "status": self.status, "constituent": self.constituent,
                "why": list(self.why)}


def likely_cases(connection: Connection, *, sender: str, sender_name: str, agency: str | None, number: str | None,
                 text: str) -> list[Likely]:
    """The cases a held message likely belongs to: the sender's own (or those they wrote on before, for anyone
    but an agency, whose liaison writes on many), the agency's with the control number the message quotes, and
    those whose constituent has the sender's name or, for an agency's mail, is named in it."""
    found: dict[str, tuple[Any, list[str]]] = {}

    def add(rows: Any, why: str) -> None:
        for row in rows:
            whys = found.setdefault(row.ref, (row, []))[1]
            if why not in whys:
                whys.append(why)

    if sender:
        add(connection.execute(_BY_CONSTITUENT, {"sender": sender}), "the sender is its constituent")
        if agency is None:
            add(connection.execute(_BY_EARLIER_MAIL, {"sender": sender}), "the sender wrote on it before")
    if agency and number:
        add(connection.execute(_BY_CONTROL, {"agency": agency, "number": number}), f"the agency's number {number}")
    name = " ".join(sender_name.split()).lower()
    if len(name.split()) >= 2 and agency is None:
        add(connection.execute(_BY_NAME, {"name": name}), "its constituent has the sender's name")
    if agency:
        words = " ".join(text.split()).lower()
        add([row for row in connection.execute(_OPEN_OF_AGENCY, {"agency": agency})
             if row.name and len(row.name.split()) >= 2 and _names(row.name, words)],
            "the message names its constituent")
    ranked = sorted(found.values(), key=lambda item: -len(item[1]))
    return [Likely(row.ref, row.subject or "", row.status, row.name or "", tuple(whys))
            for row, whys in ranked[:SHOWN_LIKELY]]


def _names(name: str, words: str) -> bool:
    return re.search(rf"\b{re.escape(' '.join(name.split()).lower())}\b", words) is not None


_ITEM = select(Message).where(Message.id == bindparam("item_id"), Message.direction == "in")


def triage_row(connection: Connection, item_id: int) -> Any:
    """The row of a message that is or was in triage (waiting, filed from it, dismissed); NotFoundError if none."""
    row = connection.execute(_ITEM, {"item_id": item_id}).first()
    if row is None or not (row.disposition in (WAITING, DISMISSED) or row.reason.startswith(FILED)):
        raise NotFoundError(f"no triage item {item_id}")
    return row


def held_item(connection: Connection, item_id: int) -> Any:
    """The row of a message still waiting in triage; a one-line UserError when there is none, or it left already."""
    row = triage_row(connection, item_id)
    if row.disposition != WAITING:
        raise UserError(f"triage item {item_id} was already {row.reason.split(' (held: ', 1)[0]}")
    return row


def placed_reason(how: str, actor: str, reason: str) -> str:
    """The reason a placed message keeps: how it left the queue and who did it, then why it had been held."""
    return f"{how} by {actor} (held: {reason})"


def placed_meanwhile(item_id: int) -> UserError:
    """Of two people placing one message at once, what the second is told (the first one's change stands)."""
    return UserError(f"triage item {item_id} was placed by someone else a moment ago")


_DISMISS = (update(Message).where(Message.id == bindparam("item_id"), Message.disposition == WAITING)
            .values(disposition=DISMISSED, reason=bindparam("reason")))


def dismiss(connection: Connection, item_id: int, why: str, actor: str, via: str, now: datetime) -> str:
    """Take a held message out of the queue with the reason; returns the line that says so."""
    why = " ".join(why.split())
    if not why:
        raise UserError("#dismiss needs a reason (e.g. #dismiss spam)")
    row = held_item(connection, item_id)
    reason = placed_reason(f"dismissed: {why[:500]}", actor, row.reason)
    if not connection.execute(_DISMISS, {"item_id": item_id, "reason": reason}).rowcount:
        raise placed_meanwhile(item_id)
    connection.execute(insert(Event), dict(case_id=None, message_id=item_id, kind="triage-dismissed",
                                           detail=why[:4000], actor=actor, via=via, at=now))
    return f"triage item {item_id} dismissed: {why[:200]}"


def waiting_items(connection: Connection, before: datetime | None = None) -> list[Any]:
    """Every message waiting in triage (received before `before`, when given), oldest first."""
    query = (select(Message.id, Message.received_at, Message.kind, Message.channel, Message.sender, Message.subject,
                    Message.reason)
             .where(Message.case_id.is_(None), Message.disposition == WAITING)
             .order_by(Message.received_at, Message.id))
    return list(connection.execute(query if before is None else query.where(Message.received_at < before)))
