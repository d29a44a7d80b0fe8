"""The pure decision: given what screening, identify and thread found, what happens to a message?

No database and no network here; the answer is a Decision whose effects apply.py turns into rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.config import Agency, Config
from hub.intake.commands import CommandBlock, parse_commands
from hub.intake.identify import Identity
from hub.intake.message import InboundMessage
from hub.intake.screen import Screening
from hub.intake.thread import CaseFacts, CaseMatch
from hub.outbox import AUTO_REPLIED

__all__ = ["CaseFacts", "Decision", "Effect", "MarkBounced", "Notify", "OpenCase", "QueueLetter", "Relay",
           "SetAgency", "SetAgencyControl", "route"]


@dataclass(frozen=True)
class OpenCase:
    """A new case for the sending constituent."""


@dataclass(frozen=True)
class QueueLetter:
    letter: str
    to: str  # "constituent" | "agency" | an address
    automatic: str = ""


@dataclass(frozen=True)
class MarkBounced:
    addresses: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Notify:
    """Tell the case's caseworker (or, for `to`, that staff address) about this message."""

    notice: str
    to: str | None = None


@dataclass(frozen=True)
class Relay:
    """Send a caseworker's words on: to the constituent, or to the agency's liaison."""

    recipient: str
    text: str
    to_agency: bool


@dataclass(frozen=True)
class SetAgency:
    key: str


@dataclass(frozen=True)
class SetAgencyControl:
    number: str


Effect = OpenCase | QueueLetter | MarkBounced | Notify | Relay | SetAgency | SetAgencyControl


@dataclass(frozen=True)
class Decision:
    disposition: str          # "case" (on an existing or new case) | "triage"
    kind: str                 # the message's kind: constituent | agency | staff | auto-reply | bounce
    reason: str
    case_id: int | None = None
    triage_case_id: int | None = None
    effects: tuple[Effect, ...] = ()


def route(screening: Screening, identity: Identity, match: CaseMatch, message: InboundMessage,
          config: Config) -> Decision:
    if screening.is_automatic:
        return _automatic(screening, match)
    if identity.role == "unknown":
        return _triage(identity.role, "no sender address", match)
    if identity.role == "office":
        return _triage("staff", "sent from the office's own address", match)
    facts = match.facts
    if facts is None:
        if identity.role == "constituent":
            return Decision("case", "constituent", "new case", effects=(
                OpenCase(), QueueLetter("acknowledgement", "constituent", AUTO_REPLIED), Notify("New case")))
        return _triage(identity.role, f"{identity.role} mail with no case reference", match)
    if identity.role == "constituent" and message.sender != facts.constituent_email:
        # A forwarded reference must not leak a constituent's file: a caseworker confirms first.
        return _triage("constituent", f"sender is not a party on {facts.ref}", match)
    threaded = f"threaded by {match.via}"
    if identity.role == "staff":
        return _staff(parse_commands(message.new_text), facts, message.sender, config, threaded)
    if identity.role == "agency" and identity.agency is not None:
        return Decision("case", "agency", threaded, case_id=facts.case_id,
                        effects=_agency_answer(identity.agency, facts, message))
    return Decision("case", identity.role, threaded, case_id=facts.case_id,
                    effects=(Notify("Reply from the constituent"),))


def control_number(agency: Agency | None, message: InboundMessage) -> str | None:
    """The agency's own case number in its mail's subject, else its new text (first group, or the match)."""
    if agency is None or agency.control_number is None:
        return None
    for text in (message.subject, message.new_text):
        found = agency.control_number.search(text or "")
        if found:
            return (found.group(1) if found.groups() else found.group(0)).strip()[:64] or None
    return None


def _agency_answer(agency: Agency, facts: CaseFacts, message: InboundMessage) -> tuple[Effect, ...]:
    effects: list[Effect] = [Notify(f"Answer from {agency.name}")]
    if facts.agency is None:
        effects.append(SetAgency(agency.key))
    number = control_number(agency, message)
    if number and not facts.agency_control and (facts.agency in (None, agency.key)):
        effects.append(SetAgencyControl(number))
    return tuple(effects)


def _staff(block: CommandBlock, facts: CaseFacts, sender: str, config: Config, threaded: str) -> Decision:
    def refused(problem: str) -> Decision:
        return Decision("case", "staff", f"{threaded}; nothing sent: {problem}", case_id=facts.case_id,
                        effects=(Notify(f"Nothing was sent: {problem}", to=sender),))

    if block.errors:
        return refused("; ".join(block.errors))
    if block.first("note") is not None:
        return Decision("case", "staff", f"{threaded}; internal note", case_id=facts.case_id)
    target = block.first("to")
    where = (target.argument.lower() if target else "") or "constituent"
    effects: list[Effect] = []
    if where == "constituent":
        if not facts.constituent_email:
            return refused("the case has no constituent address")
        recipient, to_agency = facts.constituent_email, False
    else:
        key = facts.agency if where == "agency" else where
        agency = config.agency(key)
        if agency is None:
            return refused("the case has no agency yet (#to AGENCY-KEY names one)" if where == "agency"
                           else f"#to {where}: no agency with that key in agencies.toml")
        if not agency.liaison:
            return refused(f"{agency.name} has no liaison address in agencies.toml")
        if facts.agency is None:
            effects.append(SetAgency(agency.key))
        recipient, to_agency = agency.liaison, True
    if not block.text:
        return Decision("case", "staff", f"{threaded}; commands only", case_id=facts.case_id,
                        effects=tuple(effects))
    effects.append(Relay(recipient, block.text, to_agency))
    return Decision("case", "staff", f"{threaded}; relayed to {'the agency' if to_agency else 'the constituent'}",
                    case_id=facts.case_id, effects=tuple(effects))


def _automatic(screening: Screening, match: CaseMatch) -> Decision:
    kind = "bounce" if screening.verdict == "bounce" else "auto-reply"
    effects: tuple[Effect, ...] = ()
    if screening.failed_recipients:
        effects = (MarkBounced(screening.failed_recipients, screening.reason),)
    if match.case_id is None:
        return Decision("triage", kind, f"{screening.verdict} with no case: {screening.reason}", effects=effects)
    facts = match.facts
    if facts is not None and facts.constituent_email in screening.failed_recipients:
        # Only the constituent's address: a notice about a caseworker's failing address would go to
        # that same address and bounce again.
        effects += (Notify(f"Mail to the constituent bounced: {screening.reason}"),)
    return Decision("case", kind, f"{screening.verdict}: {screening.reason}", case_id=match.case_id,
                    effects=effects)


def _triage(kind: str, reason: str, match: CaseMatch) -> Decision:
    return Decision("triage", kind, reason, triage_case_id=match.case_id)
