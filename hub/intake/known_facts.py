"""The facts of the cases a pipelined batch's messages refer to, read for the whole batch in one statement.

In a pipelined batch (hub.intake.pipeline.Batch) every statement whose result is read is a round trip, and most
messages read the case of their reference (hub.intake.thread.find_case). So the batch reads, up front, the case of
every verified reference of its messages with what each sender is to it; `find_case` takes a message's from here.

A message filed earlier in the batch can change what a later one would read: so after each message the pairs of
every case it concerned (its references, the case it ended on) are forgotten, and so are those of the cases of its
sender's party when it opened a case (the party may be named by it); any effect that may reach further (staff
commands, forms, opt-outs, bounces, a held message placed, a status answer) forgets them all. A pair forgotten is
read afresh, as without this: with every other pair forgotten and not yet filed, in the same one statement (one
round trip, as the message alone would have cost), so that a message that forgets them all costs the rest of the
batch one round trip, not one a message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import Connection, Row

from hub.core.refs import References
from hub.intake.message import InboundMessage
from hub.intake.route import (
    AgencyAnswered,
    Archived,
    Decision,
    FollowChannel,
    Notify,
    OpenCase,
    QueueLetter,
    Reopen,
    SetAgency,
    SetAgencyControl,
    StartReminders,
    TellIntake,
)
from hub.intake.screen import Screening
from hub.intake.thread import CaseMatch, facts_and_senders, references_in

# The effects that change nothing but the message's own case (its row, reminders, letters, notices) and, opening
# a case, its sender's party: any other forgets every pair.
_NEAR_EFFECTS = (AgencyAnswered, Archived, FollowChannel, Notify, OpenCase, QueueLetter, Reopen, SetAgency,
                 SetAgencyControl, StartReminders, TellIntake)
# Pairs a statement: an array parameter apiece, so the bound is only the statement's size.
PAIRS_AT_ONCE = 1000


class KnownFacts(Mapping[tuple[str, str], Row[Any] | None]):
    """{(reference, sender): the case's row (hub.intake.thread.Known)} for a batch's messages, less what filing
    them may have changed."""

    def __init__(self, connection: Connection, refs: References,
                 messages: Iterable[tuple[InboundMessage, Screening]]) -> None:
        self._connection = connection
        # Each message's pairs, by its dedupe key, found once: `filed` counts down the same pairs.
        self._pairs_of = {message.dedupe_key: {(ref, message.sender) for ref in
                                               references_in(message, refs, screening.returned_ids)}
                          for message, screening in messages}
        # The pairs of the messages not yet filed, with how many of them have each.
        self._wanted = Counter(pair for pairs in self._pairs_of.values() for pair in pairs)
        self._rows: dict[tuple[str, str], Row[Any] | None] = {}
        self._read()

    def _read(self) -> None:
        """Read the pairs wanted and not known (all of them, the first time)."""
        pairs = sorted(pair for pair in self._wanted if pair not in self._rows)
        for start in range(0, len(pairs), PAIRS_AT_ONCE):
            self._rows.update(facts_and_senders(self._connection, pairs[start:start + PAIRS_AT_ONCE]))

    def __getitem__(self, key: tuple[str, str]) -> Row[Any] | None:
        """The pair's row; a pair wanted but forgotten is read again now, with every other such pair."""
        if key not in self._rows and key in self._wanted:
            self._read()
        return self._rows[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def filed(self, message: InboundMessage, screening: Screening, match: CaseMatch, decision: Decision,
              case_ref: str | None) -> None:
        """Forget what filing `message` (found `match`, decided `decision`, ended on `case_ref`) may have changed."""
        pairs = self._pairs_of.pop(message.dedupe_key, set())
        cases = {ref for ref, _ in pairs}
        for pair in pairs:
            self._wanted[pair] -= 1
            if self._wanted[pair] <= 0:
                del self._wanted[pair]
        if message.form is not None or screening.verdict == "bounce" or match.via == "triage-notice" or \
                not all(isinstance(effect, _NEAR_EFFECTS) for effect in decision.effects):
            self._rows.clear()
            return
        cases.update(ref for ref in (case_ref, match.facts.ref if match.facts else None) if ref is not None)
        opened = any(isinstance(effect, OpenCase) for effect in decision.effects)
        for key, row in list(self._rows.items()):
            if key[0] in cases or (opened and _of_party(row, key, message.sender)):
                del self._rows[key]


def _of_party(row: Row[Any] | None, key: tuple[str, str], sender: str) -> bool:
    """Whether the pair is the sender's, or its case's constituent has the sender's address or number (the party
    a case opened for the sender is found by)."""
    return key[1] == sender or (row is not None and sender in (row.email, row.phone))
