"""`hub search` and `#search`: the cases whose messages, notes, constituent or agency number carry a text.

The index (hub.core.search_index) says which rows match; this module turns them into hits: the case's
reference and status, what matched, a short snippet around the words (never a whole body), and when.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from hub.core.errors import UserError
from hub.core.models import Case, Event, Message, Party
from hub.core.search_index import SLOT_BITS, SLOTS, phone_digits, query_words
from hub.letters.templates import TO_STAFF

LIMIT = 50
# Rows read from the index before the newest LIMIT hits are chosen: a word on thousands of messages
# lists the newest of them, not all.
SCAN = 500
SNIPPET = 120


@dataclass(frozen=True)
class Hit:
    ref: str | None  # None: a message in triage, on no case yet
    status: str
    match: str  # a name from hub.core.search_index.SLOTS, with the message's direction: inbound, outbound
    snippet: str
    at: datetime
    message_id: str | None = None
    row_id: int | None = field(default=None, compare=False)  # the message's row, for its snippet

    def as_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "status": self.status, "match": self.match, "snippet": self.snippet,
                "at": self.at.isoformat(), "message_id": self.message_id}


@dataclass(frozen=True)
class Found:
    hits: list[Hit]
    more: bool  # there were more than LIMIT


def search(session: Session, query: str, limit: int = LIMIT) -> Found:
    """The newest hits for `query`; a UserError when it has no word to look for."""
    phrases = query_words(query)
    if not phrases:
        raise UserError(f"search {query.strip()!r}: give a word, a name, an address or a number to look for")
    staff_letters = [f"letter:{name}" for name in TO_STAFF]
    rowids = session.execute(_statement(session), {"query": _expression(session, phrases, phone_digits(query)),
                                                   "scan": SCAN,
                                                   "staff_letters": staff_letters}).scalars().all()
    by_slot: dict[str, list[int]] = defaultdict(list)
    for rowid in rowids:
        by_slot[SLOTS[rowid % SLOT_BITS]].append(rowid // SLOT_BITS)
    words = [word for phrase in phrases for word in phrase]
    others = _note_hits(session, by_slot["note"], words) + _case_hits(session, by_slot, words)
    hits = sorted(_message_hits(session, by_slot["message"], limit) + others, key=lambda hit: hit.at, reverse=True)
    total = len(by_slot["message"]) + len(others)
    return Found(_with_message_snippets(session, hits[:limit], words), total > limit or len(rowids) == SCAN)


def _statement(session: Session) -> Any:
    """The newest matching rows, less the hub's own mail to staff (a notice repeats the message it is about),
    mail on no case (the weekly report) and the list requests staff mailed in (`#search` itself)."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    matching = "s.words @@ to_tsquery('simple', :query)" if postgresql else "search_index MATCH :query"
    return text(f"SELECT s.rowid FROM search_index s LEFT JOIN messages m ON s.rowid % {SLOT_BITS} = 0 "
                f"AND m.id = s.rowid / {SLOT_BITS} WHERE {matching} AND NOT (coalesce(m.direction, '') = 'out' "
                "AND (m.case_id IS NULL OR m.kind IN :staff_letters)) AND coalesce(m.disposition, '') <> 'command' "
                "ORDER BY s.rowid DESC LIMIT :scan"
                ).bindparams(bindparam("staff_letters", expanding=True))


def _expression(session: Session, phrases: list[list[str]], digits: str | None) -> str:
    """Every phrase, its last word a prefix (`pension` finds `pensions`); or a phone number's digits."""
    if session.get_bind().dialect.name == "postgresql":
        every = " & ".join("(" + " <-> ".join(phrase) + ":*)" for phrase in phrases)
        return f"({every}) | {digits}:*" if digits else every
    every = " AND ".join('"' + " ".join(phrase) + '"*' for phrase in phrases)
    return f"({every}) OR {digits}*" if digits else every


def _message_hits(session: Session, ids: list[int], limit: int) -> list[Hit]:
    """The newest `limit` of these messages, the most that can be shown, without their snippets yet: only the
    hits shown read their message's text. (Making a hit of each of the SCAN rows cost most of a search.)"""
    if not ids:
        return []
    rows = session.execute(select(Message.id, Message.case_id, Message.direction, Message.message_id, Message.at)
                           .where(Message.id.in_(ids)).order_by(Message.at.desc(), Message.id.desc())
                           .limit(limit)).all()
    cases = _cases(session, {row.case_id for row in rows if row.case_id})
    hits = []
    for row in rows:
        ref, status = cases.get(row.case_id, (None, "triage"))
        hits.append(Hit(ref, status, "inbound" if row.direction == "in" else "outbound", "", row.at,
                        row.message_id, row.id))
    return hits


def _with_message_snippets(session: Session, hits: list[Hit], words: list[str]) -> list[Hit]:
    ids = [hit.row_id for hit in hits if hit.row_id is not None]
    texts = {row.id: f"{row.subject}\n{row.body}" for row in session.execute(
        select(Message.id, Message.subject, Message.body).where(Message.id.in_(ids)))} if ids else {}
    return [replace(hit, snippet=snippet(texts[hit.row_id], words)) if hit.row_id is not None else hit
            for hit in hits]


def _note_hits(session: Session, ids: list[int], words: list[str]) -> list[Hit]:
    if not ids:
        return []
    rows = session.execute(select(Event.case_id, Event.detail, Event.at).where(Event.id.in_(ids))).all()
    cases = _cases(session, {row.case_id for row in rows if row.case_id})
    return [Hit(*cases[row.case_id], "note", snippet(row.detail, words), row.at)
            for row in rows if row.case_id in cases]


def _case_hits(session: Session, by_slot: dict[str, list[int]], words: list[str]) -> list[Hit]:
    """A constituent's name, address or number finds each of their cases; a control number its case."""
    hits = []
    for slot in ("name", "email", "phone"):
        if by_slot[slot]:
            column = getattr(Party, slot)
            rows = session.execute(select(Case.ref, Case.status, Case.opened_at, column.label("value"))
                                   .join(Party, Case.constituent_id == Party.id)
                                   .where(Party.id.in_(by_slot[slot]))).all()
            hits += [Hit(row.ref, row.status, slot, snippet(row.value or "", words), row.opened_at) for row in rows]
    if by_slot["agency-control"]:
        rows = session.execute(select(Case.ref, Case.status, Case.opened_at, Case.agency_control)
                               .where(Case.id.in_(by_slot["agency-control"]))).all()
        hits += [Hit(row.ref, row.status, "agency-control", row.agency_control or "", row.opened_at)
                 for row in rows]
    return hits


def _cases(session: Session, ids: set[int]) -> dict[int, tuple[str, str]]:
    if not ids:
        return {}
    rows = session.execute(select(Case.id, Case.ref, Case.status).where(Case.id.in_(ids))).all()
    return {row.id: (row.ref, row.status) for row in rows}


def snippet(body: str, words: list[str], width: int = SNIPPET) -> str:
    """About `width` characters of `body` on one line, starting a little before the first word found."""
    flat = " ".join(body.split())
    found = [match.start() for word in words if (match := re.search(rf"(?<![^\W_]){re.escape(word)}", flat,
                                                                      re.IGNORECASE))]
    start = max(0, min(found) - width // 4) if found else 0
    piece = flat[start:start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(flat) else "")
