"""The agency directory, config/agencies.toml: one `[agencies.KEY]` table per agency the office writes to.

Each agency names its mail domains, its liaison and how long it has to answer; the loader checks every
entry and that no two agencies share a key or a domain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hub.core.config_checks import check_agencies
from hub.core.config_table import Table, read_toml
from hub.core.errors import ConfigError

# What the signed release page (hub.run.release_page) may ask for an agency's file, by `release_asks`.
RELEASE_ASKS = ("birth_date", "ssn_last4", "claim_number", "a_number")


@dataclass(frozen=True)
class Agency:
    key: str
    name: str
    domains: tuple[str, ...]
    liaison: str
    response_days: int
    business_days: bool
    control_number: re.Pattern[str] | None = None  # the agency's own case number in its replies
    release_valid_days: int = 0  # a release must be signed within this many days (0: no limit)
    interim_days: int = 0    # after an answer, the next follow-up this many days later (0: response_days)
    followup_days: int = 0   # between unanswered follow-ups (0: the office's [schedule] followup_days)
    followup_limit: int = 0  # unanswered follow-ups before the supervisor is told (0: the office's)
    require_authentication: bool = True  # its mail must pass DKIM/SPF to count as the agency's
    short: str = ""  # what notices to staff call it ("SSA"); its name when not given
    release_asks: tuple[str, ...] = ("birth_date",)  # what its release form needs besides the name (RELEASE_ASKS)

    @property
    def short_name(self) -> str:
        return self.short or self.name

    @property
    def interim(self) -> int:
        return self.interim_days or self.response_days

    def has_domain(self, domain: str) -> bool:
        """True for the agency's domains and their subdomains (ssa.gov covers mail.ssa.gov)."""
        domain = domain.lower()
        return any(domain == d or domain.endswith("." + d) for d in self.domains)


def load_agencies(path: Path) -> tuple[Agency, ...]:
    """The agency directory: one `[agencies.KEY]` table per agency."""
    if not path.exists():
        raise ConfigError(f"{path}: no agency directory beside hub.toml (`hub init` writes the example; "
                          "an office that deals with no agency keeps the file, empty)")
    root = Table(read_toml(path), path, "")
    directory = root.table("agencies")
    agencies = []
    for key in directory.entries():
        table = directory.table(key)
        domains = table.get("domains", list)
        if not domains or not all(isinstance(d, str) and "." in d for d in domains):
            raise table.fail("domains", "expected a list of mail domains such as [\"ssa.gov\"]")
        agencies.append(Agency(
            key=key.lower(),
            name=table.text("name"),
            domains=tuple(d.lower().lstrip("@") for d in domains),
            liaison=table.address("liaison", ""),
            response_days=table.positive("response_days", 30),
            business_days=table.get("business_days", bool, False),
            control_number=_pattern(table, "control_number"),
            release_valid_days=table.get("release_valid_days", int, 0),
            interim_days=table.not_negative("interim_days"),
            followup_days=table.not_negative("followup_days"),
            followup_limit=table.not_negative("followup_limit"),
            require_authentication=table.get("require_authentication", bool, True),
            short=table.text("short_name", ""),
            release_asks=_asks(table),
        ))
    root.reject_unknown()
    check_agencies(agencies, [directory.table(key) for key in directory.data])
    return tuple(agencies)


def _asks(table: Table) -> tuple[str, ...]:
    asks = table.get("release_asks", list, ["birth_date"])
    if not all(isinstance(ask, str) and ask in RELEASE_ASKS for ask in asks) or len(set(asks)) != len(asks):
        raise table.fail("release_asks", f"expected a list of {', '.join(RELEASE_ASKS)} (each once), got {asks!r}")
    return tuple(asks)


def _pattern(table: Table, key: str) -> re.Pattern[str] | None:
    """A regular expression; its first group (or the whole match when it has none) is the number."""
    text = table.text(key, "")
    if not text:
        return None
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as error:
        raise table.fail(key, f"not a valid regular expression: {error}") from None

