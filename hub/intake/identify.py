"""Who sent this? Staff, agency, the office itself, or a constituent.

Decided from the sender's address (or number) against the configured staff list and agency directory, never from
what the message says about itself. An agency's mail counts as the agency's only when the office's own server
vouches for its From domain (hub.intake.authentication), unless the directory says the agency's mail never
authenticates; otherwise the identity carries the doubt, and the message is held for a caseworker.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hub.core.agency_directory import Agency
from hub.core.config import Config
from hub.core.config_values import Staff
from hub.intake.authentication import sender_verdict
from hub.intake.message import InboundMessage


@dataclass(frozen=True)
class Identity:
    role: str  # "staff" | "agency" | "office" | "constituent" | "unknown"
    staff: Staff | None = None
    agency: Agency | None = None
    doubt: str = ""  # why the agency's mail is not taken as the agency's ("" when it is)


def identify(message: InboundMessage, config: Config) -> Identity:
    identity = role_of(message.sender, config)
    if identity.agency is not None and identity.agency.require_authentication:
        verdict = sender_verdict(message, config)
        if not verdict.authenticated:
            return replace(identity, doubt=verdict.reason)
    return identity


def role_of(sender: str, config: Config) -> Identity:
    """The role an address or number has in the office's configuration, before any authentication."""
    if sender.startswith("+"):  # a phone number (E.164): texts come from constituents, or from ourselves
        return Identity("office" if config.sms and sender == config.sms.number else "constituent")
    if "@" not in sender:
        return Identity("unknown")
    local, domain = sender.lower().rsplit("@", 1)
    if domain == config.office.domain and local.split("+", 1)[0] == config.office.local_part:
        return Identity("office")
    for person in config.staff:
        if person.email == sender.lower():
            return Identity("staff", staff=person)
    for agency in config.agencies:
        if agency.has_domain(domain):
            return Identity("agency", agency=agency)
    return Identity("constituent")
