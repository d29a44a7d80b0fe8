"""Which case does this message belong to?

In order: a verified reference (plus-address, our Message-IDs in In-Reply-To/References, the body,
the subject), then In-Reply-To/References against any Message-ID stored on a case. A reference only
counts when its check code verifies, so a guessed or mistyped one never reaches another case's file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from hub.intake.message import InboundMessage
from hub.models import Case, Message, Outbox
from hub.refs import Reference, References


@dataclass(frozen=True)
class CaseMatch:
    case_id: int | None
    via: str = "none"  # plus-address | message-id | body | subject | in-reply-to | none


NO_CASE = CaseMatch(None)

# Built once and run on the session's connection: intake is the hot path of a large import, and the
# ORM's per-statement overhead is several times the lookup itself.
_CASE_BY_REF = select(Case.id).where(Case.ref == bindparam("ref"))
_KNOWN_IDS = tuple(
    select(table.message_id, table.case_id).where(table.message_id.in_(bindparam("ids", expanding=True)),
                                                  table.case_id.is_not(None))
    for table in (Message, Outbox))


def find_case(session: Session, message: InboundMessage, refs: References,
              extra_ids: Iterable[str] = ()) -> CaseMatch:
    message_ids = tuple(dict.fromkeys((*message.thread_ids, *extra_ids)))
    candidates: list[tuple[str, Reference | None]] = [
        ("plus-address", _first(refs.find_in_address(a) for a in message.recipients)),
        ("message-id", refs.find_in_message_ids(message_ids)),
        ("body", refs.find_in_text(message.text)),
        ("subject", refs.find_in_text(message.subject)),
    ]
    connection = session.connection()
    for via, reference in candidates:
        if reference is not None:
            case_id = connection.execute(_CASE_BY_REF, {"ref": str(reference)}).scalar()
            if case_id is not None:
                return CaseMatch(case_id, via)
    if message_ids:
        case_id = _case_of_known_message(session, message_ids)
        if case_id is not None:
            return CaseMatch(case_id, "in-reply-to")
    return NO_CASE


def _case_of_known_message(session: Session, message_ids: tuple[str, ...]) -> int | None:
    known: dict[str, int] = {}
    for query in _KNOWN_IDS:
        for message_id, case_id in session.connection().execute(query, {"ids": list(message_ids)}):
            if message_id is not None and case_id is not None:
                known.setdefault(message_id, case_id)
    # Nearest first: In-Reply-To, then References from the newest.
    return next((known[m] for m in message_ids if m in known), None)


def _first(items: Iterable[Reference | None]) -> Reference | None:
    return next((item for item in items if item is not None), None)
