"""The office's district by ZIP: `[office] zip_codes`, a list of ZIP or ZIP+4 prefixes, and whether a
constituent's ZIP is in it (offices serve their own constituents), checked again whenever the address changes.
Pure: no database."""

from __future__ import annotations

import re

ZIP_PREFIX = re.compile(r"^(?:\d{1,5}|\d{5}-\d{1,4})$")
ZIP_AT_END = re.compile(r"(?<![\d-])(\d{5}(?:-\d{4})?)\s*$")


def zip_of(address: str) -> str:
    """The ZIP (or ZIP+4) that ends an address, or ""."""
    found = ZIP_AT_END.search(address.strip())
    return found.group(1) if found else ""


def in_district(zip_code: str | None, prefixes: tuple[str, ...]) -> bool | None:
    """True or False when there is a ZIP and a district to check it against; None when either is missing.
    A prefix with a dash checks the ZIP+4 (so 27603-12 needs the +4 and a ZIP of 5 digits is outside it)."""
    digits = (zip_code or "").strip()
    if not digits or not prefixes:
        return None
    return any(digits.startswith(prefix) for prefix in prefixes)


def district_note(zip_code: str | None, prefixes: tuple[str, ...]) -> str:
    """The line a first notice carries when the constituent is outside the district, else ""."""
    if in_district(zip_code, prefixes) is False:
        return f"Outside the district: ZIP {(zip_code or '').strip()} is not in [office] zip_codes"
    return ""


def district_change(before: str | None, after: str | None, prefixes: tuple[str, ...]) -> str:
    """The line that says a new ZIP took the constituent out of the district (or into it from outside), else ""."""
    was, now = in_district(before, prefixes), in_district(after, prefixes)
    after = (after or "").strip()
    if now is False and was is True:
        return f"Moved outside the district: ZIP {after} is not in [office] zip_codes (it was {(before or '').strip()})"
    if now is False and was is None:
        return district_note(after, prefixes)
    if now is True and was is False:
        return f"Moved into the district: ZIP {after} is in [office] zip_codes (it was {(before or '').strip()})"
    return ""
