"""Mistakes that show only across entries of the configuration: two people or agencies for one name.

`#assign maria` must name one person, mail from a domain must be one agency's, and a portfolio must
list agencies that exist. Each problem is one line naming the file, both entries and what to change.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from hub.core.errors import ConfigError

if TYPE_CHECKING:
    from hub.core.agency_directory import Agency
    from hub.core.config import Config
    from hub.core.config_table import Table


def check_staff(config: Config, tables: list[Table]) -> None:
    """Addresses are unique, the name commands list each person by (short, else first name) names them
    alone, and portfolios list agencies of agencies.toml."""
    people = list(zip(config.staff, tables, strict=True))

    def entry(number: int) -> str:
        return f"[{tables[number].name}] ({config.staff[number].name})"

    for number, (person, table) in enumerate(people):
        earlier = next((n for n, other in enumerate(config.staff[:number]) if other.email == person.email), None)
        if earlier is not None:
            raise table.fail("email", f"{person.email} is also {entry(earlier)}")
    for number, (person, table) in enumerate(people):
        word = (person.short or person.first_name).lower()
        if not word or config.person(word) is person:
            continue
        other = next(n for n, someone in enumerate(config.staff) if n != number and someone.answers_to(word))
        what = f'"{word}"' if person.short else f'missing, and "{word}" (the first name)'
        raise table.fail("short", f"{what} also names {entry(other)}; give each person a short name of their own")
    known = sorted(agency.key for agency in config.agencies)
    for person, table in people:
        for key in person.agencies:
            if config.agency(key) is None:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f", did you mean {close[0]}?" if close else f" (known: {', '.join(known) or 'none'})"
                raise table.fail("agencies", f'no agency "{key}" in agencies.toml{hint}')


def check_agencies(agencies: list[Agency], tables: list[Table]) -> None:
    """One agency per key (in any case) and per mail domain, subdomains included: the first agency whose
    domain matches takes the mail, so an overlap would quietly depend on the order of the file."""
    for number, (agency, table) in enumerate(zip(agencies, tables, strict=True)):
        for earlier, other in enumerate(agencies[:number]):
            if other.key == agency.key:
                raise ConfigError(f"{table.file}: [{table.name}]: the same agency key as [{tables[earlier].name}]")
            for mine, theirs in ((m, o) for m in agency.domains for o in other.domains if _overlap(m, o)):
                claim = "is already" if mine == theirs else f"overlaps {theirs}, a domain of"
                raise table.fail("domains", f'"{mine}" {claim} [{tables[earlier].name}]; a mail domain and its '
                                            "subdomains belong to one agency")


def _overlap(one: str, other: str) -> bool:
    return one == other or one.endswith("." + other) or other.endswith("." + one)
