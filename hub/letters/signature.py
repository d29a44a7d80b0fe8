"""A caseworker's relayed text is signed once: when she closed it with her own name ("Best,\\nSam",
"Thanks, Sam Lee", her name and title as the last lines), the hub adds no signature of its own; else
her name, her title and the office's name go under it."""

from __future__ import annotations

import re

from hub.core.config_values import Staff

# Her name may be followed by this many lines (a title, a phone number) and still sign the text.
LINES_AFTER_NAME = 2
# "Best," "Kind regards," "Thanks so much,": a closing line alone, or before her name on the same line.
_CLOSING = re.compile(r"^[^\W\d][\w' ]{0,40}[,!]?$")
_DECORATION = " \t-–—~*_.,!"


def relay_body(text: str, staff: Staff | None, office_name: str) -> str:
    """Her text, signed with her name, title and the office unless she signed it herself."""
    text = text.rstrip()
    if sign_off_start(text, staff) is not None:
        return text
    signature = "\n".join(line for line in (staff.name if staff else "", staff.title if staff else "", office_name)
                          if line)
    return f"{text}\n\n{signature}"


def without_sign_off(text: str, staff: Staff | None) -> str:
    """Her text without the closing and name she signed it with (a letter that signs itself carries it)."""
    start = sign_off_start(text, staff)
    lines = text.strip().splitlines()
    return "\n".join(lines if start is None else lines[:start]).strip()


def sign_off_start(text: str, staff: Staff | None) -> int | None:
    """The index of the first line of her own sign-off in `text`'s stripped lines, or None when she did not sign."""
    names = {name.lower() for name in (staff.name, staff.first_name, staff.short) if name} if staff else set()
    if not names:
        return None
    lines = text.strip().splitlines()
    filled = [index for index, line in enumerate(lines) if line.strip()]
    for place in reversed(filled[-(LINES_AFTER_NAME + 1):]):
        if _is_name_line(lines[place], names):
            before = [index for index in filled if index < place]
            if before and _is_closing(lines[before[-1]], alone=True) and not _is_name_line(lines[before[-1]], names):
                return before[-1]
            return place
    return None


def _is_name_line(line: str, names: set[str]) -> bool:
    """`Sam`, `- Sam Lee`, `Thanks, Sam`, `Best wishes, Sam Lee.`"""
    words = line.strip(_DECORATION).lower()
    if words in names:
        return True
    closing, comma, name = words.rpartition(",")
    return bool(comma) and name.strip(_DECORATION) in names and _is_closing(closing)


def _is_closing(line: str, alone: bool = False) -> bool:
    """A few words that may close a letter; on a line of their own, "Best," or "Thanks" but not "Call me soon"."""
    words = line.strip()
    if not _CLOSING.match(words) or len(words.split()) > 4:
        return False
    return not alone or words.endswith((",", "!")) or len(words.split()) <= 2
