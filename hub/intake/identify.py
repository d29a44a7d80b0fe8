"""Who sent this? Staff, agency, the office itself, or a constituent.

Decided from the sender's address (or number) against the configured staff list and agency directory, never from
what the message says about itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.config import Agency, Config, Staff


@dataclass(frozen=True)
class Identity:
    role: str  # "staff" | "agency" | "office" | "constituent" | "unknown"
    staff: Staff | None = None
    agency: Agency | None = None


def identify(sender: str, config: Config) -> Identity:
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
