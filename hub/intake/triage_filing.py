"""Placing a held message: filed on a case, or a new case opened for its sender, by a caseworker's word.

The message goes the rest of the inbound path as if it had come in so: the same routing (hub.intake.route's
`on_case`, or the new case a constituent's message opens) and the same effects (hub.intake.apply's `refile`),
so an agency's answer filed on its case marks the agency answered, cancels the follow-up and tells the
caseworker, exactly as it would have with the reference in its subject. Its own row moves; nothing is stored
twice. The caseworker's word vouches for the sender: an agency's mail held because its server did not
authenticate it counts as the agency's once filed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from hub.cases.triage_queue import FILED, held_item, placed_reason
from hub.core.config import Config
from hub.core.errors import NotFoundError
from hub.core.file_store import raw_of
from hub.core.models import Case
from hub.core.refs import References
from hub.intake.apply import refile
from hub.intake.identify import identify
from hub.intake.message import InboundMessage
from hub.intake.parse.email import parse_email
from hub.intake.route import Decision, new_case_for, on_case
from hub.intake.thread import CaseMatch, facts_of_reference
from hub.letters.templates import Letters

AUTOMATIC_KINDS = ("auto-reply", "bounce")


@dataclass(frozen=True)
class Placed:
    line: str                # what happened, for the confirmation
    case_ref: str
    case_id: int


def file_on_case(connection: Connection, item_id: int, ref: str, actor: str, via: str, config: Config,
                 refs: References, letters: Letters, now: datetime) -> Placed:
    """File held message `item_id` on the case `ref` names (the check code must verify)."""
    row = held_item(connection, item_id)
    reference = refs.parse(ref)
    facts = facts_of_reference(connection, reference) if reference is not None else None
    if facts is None:
        raise NotFoundError(f"no case {ref!r}" + ("" if reference else " (not a valid reference)"))
    message = _message_of(connection, row, config)
    if row.kind in AUTOMATIC_KINDS:
        decision = Decision("case", row.kind, "an automatic message, filed by a caseworker", case_id=facts.case_id)
    else:
        identity = replace(identify(message, config), doubt="")
        decision = on_case(identity, CaseMatch(facts, "a caseworker"), message, config, now)
    reason = placed_reason(f"{FILED} on {facts.ref}", actor, row.reason)
    applied = refile(connection, item_id, message, decision, facts, config, refs, letters, now, reason, actor, via)
    return _placed(connection, applied.case_ref, f"triage item {item_id} filed on {applied.case_ref}")


def open_for_sender(connection: Connection, item_id: int, actor: str, via: str, config: Config, refs: References,
                    letters: Letters, now: datetime) -> Placed:
    """Open a new case for the sender of held message `item_id`, as their message would have."""
    row = held_item(connection, item_id)
    message = _message_of(connection, row, config)
    reason = placed_reason(f"{FILED} as a new case", actor, row.reason)
    applied = refile(connection, item_id, message, new_case_for(message, config, now), None, config, refs, letters,
                     now, reason, actor, via)
    return _placed(connection, applied.case_ref, f"triage item {item_id}: new case {applied.case_ref} for "
                                                 f"{message.sender}")


def _placed(connection: Connection, ref: str | None, line: str) -> Placed:
    assert ref is not None
    return Placed(line, ref, int(connection.execute(select(Case.id).where(Case.ref == ref)).scalar_one()))


def _message_of(connection: Connection, row: Any, config: Config) -> InboundMessage:
    """The held message as intake read it: mail parsed again from its bytes (its headers, its files), a text
    from its row."""
    raw = raw_of(connection, row.id)
    if row.channel == "email" and raw:
        return parse_email(raw, row.source, config.limits.max_attachment_bytes)
    return InboundMessage(channel=row.channel, source=row.source, dedupe_key=row.dedupe_key, raw=raw or b"",
                          sender=row.sender, sender_name=row.sender_name, recipients=tuple(row.recipients or ()),
                          subject=row.subject, text=row.full_text, new_text=row.body, message_id=row.message_id,
                          in_reply_to=tuple((row.in_reply_to or "").split()),
                          references=tuple((row.references or "").split()), date=row.at)
