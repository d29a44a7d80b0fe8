"""The pure decision: given what screening, identify and thread found, what happens to a message?

No database and no network here; the answer is a Decision whose effects apply.py turns into rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.intake.identify import Identity
from hub.intake.screen import Screening
from hub.intake.thread import CaseFacts, CaseMatch

__all__ = ["CaseFacts", "Decision", "Effect", "MarkBounced", "OpenCase", "QueueLetter", "route"]


@dataclass(frozen=True)
class OpenCase:
    """A new case for the sending constituent."""


@dataclass(frozen=True)
class QueueLetter:
    letter: str
    to: str  # "constituent" | "agency" | an address


@dataclass(frozen=True)
class MarkBounced:
    addresses: tuple[str, ...]
    reason: str


Effect = OpenCase | QueueLetter | MarkBounced


@dataclass(frozen=True)
class Decision:
    disposition: str          # "case" (on an existing or new case) | "triage"
    kind: str                 # the message's kind: constituent | agency | staff | auto-reply | bounce
    reason: str
    case_id: int | None = None
    triage_case_id: int | None = None
    effects: tuple[Effect, ...] = ()


def route(screening: Screening, identity: Identity, match: CaseMatch, sender: str) -> Decision:
    facts = match.facts
    if screening.is_automatic:
        return _automatic(screening, match)
    if identity.role == "unknown":
        return _triage(identity.role, "no sender address", match)
    if identity.role == "office":
        return _triage("staff", "sent from the office's own address", match)
    if facts is None:
        if identity.role == "constituent":
            return Decision("case", "constituent", "new case", effects=(
                OpenCase(), QueueLetter("acknowledgement", "constituent")))
        return _triage(identity.role, f"{identity.role} mail with no case reference", match)
    if identity.role == "constituent" and sender != facts.constituent_email:
        # A forwarded reference must not leak a constituent's file: a caseworker confirms first.
        return _triage("constituent", f"sender is not a party on {facts.ref}", match)
    return Decision("case", identity.role, f"threaded by {match.via}", case_id=facts.case_id)


def _automatic(screening: Screening, match: CaseMatch) -> Decision:
    kind = "bounce" if screening.verdict == "bounce" else "auto-reply"
    effects: tuple[Effect, ...] = ()
    if screening.failed_recipients:
        effects = (MarkBounced(screening.failed_recipients, screening.reason),)
    if match.case_id is None:
        return Decision("triage", kind, f"{screening.verdict} with no case: {screening.reason}", effects=effects)
    return Decision("case", kind, f"{screening.verdict}: {screening.reason}", case_id=match.case_id,
                    effects=effects)


def _triage(kind: str, reason: str, match: CaseMatch) -> Decision:
    return Decision("triage", kind, reason, triage_case_id=match.case_id)
