"""One thread per case in a caseworker's mailbox: the hub's mail to staff about a case answers its first.

Every notice, command reply and follow-up mail to staff about a case carries In-Reply-To (or, when it
already answers a caseworker's own mail, References) naming the case's first such message, which is how
Thunderbird, NeoMutt and Apple Mail thread (RFC 5322 §3.6.4). Outlook groups by its conversation instead:
with no conversation tracking it hashes the Thread-Topic (else the subject), with tracking it takes the
GUID of the Thread-Index ([MS-OXOMSG] 2.2.1.2). Both are the same for every message of a case, so the
subjects can say what happened ("New message from Pat Rivera", "Answer from SSA") and still group.

The first message is found by one query on `ix_outbox_case_letter`, and marked `first_notice` in its context:
only it lists the commands.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, bindparam, case, func, insert, select
from sqlalchemy.orm import aliased

from hub.core.db import one_of
from hub.core.db_pipeline import write_only
from hub.core.models import Outbox
from hub.letters.templates import TO_STAFF

FIRST = "first_notice"
# A folded notice is never sent: it cannot be the root the others answer.
_ROOTS = (select(Outbox.case_id, func.min(Outbox.id).label("first"))
          .where(one_of(Outbox.letter, TO_STAFF), Outbox.folded_into.is_(None)).group_by(Outbox.case_id))
# `thread_roots` of the case `case_id` as a scalar subquery, for a caller to ask in a statement it sends anyway.
_FIRST, _ROOT = aliased(Outbox), aliased(Outbox)
ROOT_OF_CASE = (select(_ROOT.message_id)
                .where(_ROOT.id == select(func.min(_FIRST.id))
                       .where(_FIRST.case_id == bindparam("case_id"), one_of(_FIRST.letter, TO_STAFF),
                              _FIRST.folded_into.is_(None)).scalar_subquery())
                .scalar_subquery())
# A staff notice's insert that threads it itself, its root found as `thread` would find it (the row named by
# `threaded_parameters`): one round trip fewer for a caller with nothing else to ask (hub.letters.notice_digest).
_ROOT_NOW = select(ROOT_OF_CASE.label("root")).subquery()
_PLAIN = ("case_id", "channel", "letter", "recipient", "message_id", "references", "automatic", "actor", "subject",
          "body", "state", "attempts", "not_before", "created_at", "about", "folded_into")
QUEUE_THREADED = write_only(insert(Outbox).from_select(
    [*_PLAIN, "in_reply_to", "context"],
    select(*[bindparam(name, type_=Outbox.__table__.c[name].type) for name in _PLAIN], _ROOT_NOW.c.root,
           case((_ROOT_NOW.c.root.is_(None), bindparam("first_context", type_=JSON)),
                else_=bindparam("context", type_=JSON))).select_from(_ROOT_NOW)))
# FILETIME counts 100 ns from 1601-01-01 UTC.
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def thread_roots(connection: Connection, case_ids: Iterable[int]) -> dict[int, str]:
    """The Message-ID of each case's first mail to staff, for the cases that have one."""
    wanted = sorted(set(case_ids))
    if not wanted:
        return {}
    first = _ROOTS.where(Outbox.case_id.in_(wanted)).subquery()
    rows = connection.execute(select(first.c.case_id, Outbox.message_id).join(Outbox, Outbox.id == first.c.first))
    return {int(case_id): str(message_id) for case_id, message_id in rows}


def thread(connection: Connection, rows: list[dict[str, Any]], known: Mapping[int, str | None] | None = None) -> None:
    """Thread outbox rows about to be inserted (column dicts, in order): each one to staff about a case answers
    the case's first, or is that first and says so in its context. `known` is the roots the caller already
    looked up (`ROOT_OF_CASE`), None for a case that has none yet."""
    known = known or {}
    mine = [row for row in rows if _is_staff_notice(row)]
    roots = {case_id: root for case_id, root in known.items() if root is not None}
    roots.update(thread_roots(connection, (row["case_id"] for row in mine if row["case_id"] not in known)))
    for row in mine:
        root = roots.setdefault(row["case_id"], row["message_id"])
        if root == row["message_id"]:
            row["context"] = {**(row.get("context") or {}), FIRST: True}
        elif not row.get("in_reply_to"):
            row["in_reply_to"] = root
        elif root != row["in_reply_to"]:
            row["references"] = " ".join(dict.fromkeys([root, *(row.get("references") or "").split()]))


def _is_staff_notice(row: dict[str, Any]) -> bool:
    return row["letter"] in TO_STAFF and row.get("case_id") is not None and row.get("folded_into") is None


def threaded_parameters(row: dict[str, Any]) -> dict[str, Any]:
    """The parameters of QUEUE_THREADED for an `outbox_row` of a staff notice about a case, not threaded yet and
    answering nothing (its In-Reply-To is the root)."""
    assert _is_staff_notice(row) and not row.get("in_reply_to") and not row.get("references")
    return dict(row, first_context={**(row.get("context") or {}), FIRST: True})


def thread_topic(case_ref: str, case_subject: str | None) -> str:
    """Outlook's conversation topic: the same for every message to staff about the case."""
    return " ".join(f"[{case_ref}] {case_subject or ''}".split())


def thread_index(domain: str, case_ref: str, opened_at: datetime, written_at: datetime) -> str:
    """The Thread-Index of a message to staff about the case ([MS-OXOMSG] 2.2.1.3): a header of the case's
    opening time and a GUID of its own, then one response level for the time since."""
    guid = uuid.uuid5(uuid.NAMESPACE_URL, f"casework-hub:{domain.lower()}:{case_ref}").bytes
    opened = _filetime(opened_at)
    index = b"\x01" + (opened >> 24).to_bytes(5, "big") + guid
    delta = max(0, _filetime(written_at) - opened)
    if delta:
        # DC 0 keeps bits 18..48 of the delta (up to about 1.8 years), DC 1 bits 23..53; the low byte is random
        # and level in Outlook's own, fixed here so that a resend is the same message.
        level = (delta >> 18) & 0x7FFFFFFF if delta < 1 << 49 else 1 << 31 | (delta >> 23) & 0x7FFFFFFF
        index += level.to_bytes(4, "big") + b"\x00"
    return base64.b64encode(index).decode()


def _filetime(moment: datetime) -> int:
    elapsed = moment.astimezone(UTC) - _FILETIME_EPOCH
    return (elapsed.days * 86_400 + elapsed.seconds) * 10_000_000 + elapsed.microseconds * 10
