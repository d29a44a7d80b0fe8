"""Which of the hub's own letters a bounce is about, and so which addresses it may mark as failing.

Anyone can send a delivery-status notice naming any address, and a notice that marks an address stops
the hub's letters to it for a month; so a bounce counts only when it is about mail the hub sent. It is
when it came back to a letter's envelope sender (the VERP address naming the outbox row, with its long
code), when its returned headers carry the Message-ID of one of our letters, or when they carry a
verified reference (the subject included) of the case it threads to. Only addresses the hub wrote to
can be marked: each letter has one recipient, and a notice about it is about that address.

A bounce about nothing of ours is held in triage and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select

from hub.core.models import Outbox
from hub.core.refs import References
from hub.intake.message import InboundMessage
from hub.intake.screen import Screening
from hub.intake.thread import NO_CASE, CaseMatch, facts_of_case, facts_of_reference

_ROW = select(Outbox.case_id, Outbox.recipient).where(Outbox.id == bindparam("row_id"))
_ROWS_OF_IDS = select(Outbox.case_id, Outbox.recipient).where(Outbox.message_id.in_(bindparam("ids",
                                                                                              expanding=True)))
_WRITTEN_TO_ON_CASE = (select(Outbox.recipient).distinct()
                       .where(Outbox.case_id == bindparam("case_id"),
                              Outbox.recipient.in_(bindparam("addresses", expanding=True))))
UNLINKED = "not about mail the hub sent, so nothing is marked"


@dataclass(frozen=True)
class BounceLink:
    match: CaseMatch                 # its case: found by our letter when it names one, else none
    failed: tuple[str, ...] = ()     # the addresses it may mark as failing
    linked: bool = False             # about a letter of ours


def link_bounce(connection: Connection, message: InboundMessage, screening: Screening, match: CaseMatch,
                refs: References) -> BounceLink:
    letters = [row for address in message.recipients if (row_id := refs.outbox_id_in(address)) is not None
               for row in connection.execute(_ROW, {"row_id": row_id})]
    if screening.returned_ids:
        letters += connection.execute(_ROWS_OF_IDS, {"ids": list(screening.returned_ids)}).all()
    cases = [row.case_id for row in letters if row.case_id is not None]
    if cases and match.case_id not in cases:
        match = CaseMatch(facts_of_case(connection, cases[0]), "bounce-address")
    if not letters:
        returned = {reference for reference in map(refs.find_in_text, screening.returned_subjects) if reference}
        if len(returned) != 1:
            return BounceLink(NO_CASE)
        facts = facts_of_reference(connection, returned.pop())
        if facts is None or (match.facts is not None and match.case_id != facts.case_id):
            return BounceLink(NO_CASE)
        match = CaseMatch(facts, "returned-subject")
    failed: dict[str, None] = {}
    if screening.failed_recipients:
        failed.update(dict.fromkeys(row.recipient for row in letters))
        if match.facts is not None:
            failed.update(dict.fromkeys(connection.execute(_WRITTEN_TO_ON_CASE, {
                "case_id": match.facts.case_id, "addresses": list(screening.failed_recipients)}).scalars()))
    return BounceLink(match, tuple(failed), linked=True)
