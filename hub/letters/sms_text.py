"""What a text message costs: its encoding and segment count as carriers bill it, and how to make it cheaper.

A text that is all GSM 03.38 characters goes as GSM-7 (160 septets, or 153 a part once it is split);
one character outside that alphabet sends the whole text as UCS-2 (70 UTF-16 units, or 67 a part).
Pure functions, no I/O.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# The GSM 03.38 basic table, in code order (0x1B, the escape to the extension table, left out).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå" "Δ_ΦΓΛΩΠΨΣΘΞ" "ÆæßÉ" " !\"#¤%&'()*+,-./" "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO" "PQRSTUVWXYZÄÖÑÜ§" "¿abcdefghijklmno" "pqrstuvwxyzäöñüà"
)
# The extension table: each is sent as the escape septet and its own, so it costs two.
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE = 160  # septets in a text that is one segment
GSM7_PART = 153    # septets in each part of a longer one: the concatenation header takes the rest
UCS2_SINGLE = 70   # UTF-16 code units, likewise
UCS2_PART = 67
ZWJ = "\u200d"  # zero-width joiner: glues several emoji into one picture

# What caseworkers paste from Word and Outlook, and a GSM-7 stand-in for each.
GSM_LOOKALIKES: Mapping[str, str] = {
    "\u2018": "'", "\u2019": "'",   # curly single quotes, the apostrophe Word types
    "\u201c": '"', "\u201d": '"',   # curly double quotes
    "\u2013": "-", "\u2014": "-",   # en and em dash
    "\u2026": "...",                # ellipsis
    "\u00a0": " ",                  # non-breaking space
    "\u2022": "-",                  # bullet
    "\u00ad": "", "\u200b": "",     # soft hyphen and zero-width space: invisible, yet each forces UCS-2
}
_LOOKALIKE_TABLE = str.maketrans(dict(GSM_LOOKALIKES))

WORD_BOUNDARY_REACH = 20  # how far back a trimmed text looks for a space to cut at


@dataclass(frozen=True)
class Segments:
    encoding: str               # "GSM-7" | "UCS-2"
    count: int                  # segments billed
    units: int                  # septets for GSM-7, UTF-16 code units for UCS-2
    unsafe: tuple[str, ...]     # the distinct characters that forced UCS-2, in order of appearance


def gsm7_safe(text: str) -> bool:
    """True when the whole text can go as GSM-7."""
    return all(char in GSM_BASIC or char in GSM_EXTENSION for char in text)


def segments(text: str) -> Segments:
    """The encoding and segment count a carrier would use for the text; an empty text is one segment."""
    unsafe = tuple(dict.fromkeys(char for char in text if char not in GSM_BASIC and char not in GSM_EXTENSION))
    if unsafe:
        costs = [_utf16_units(char) for char in text]
        return Segments(UCS2, _count(costs, UCS2_SINGLE, UCS2_PART), sum(costs), unsafe)
    costs = [2 if char in GSM_EXTENSION else 1 for char in text]
    return Segments(GSM7, _count(costs, GSM7_SINGLE, GSM7_PART), sum(costs), ())


def to_gsm7(text: str) -> str:
    """The text with its typographic lookalikes (curly quotes, dashes, …) replaced; everything else kept."""
    return text.translate(_LOOKALIKE_TABLE)


def trim_to_segments(text: str, max_segments: int, ellipsis: str = "...", suffix: str = "") -> tuple[str, str]:
    """(the longest start of the text that, ending in the ellipsis and then `suffix`, fits in
    max_segments; the rest). `suffix` (a signature) is never cut.

    The cut falls at a space when there is one near it. A text that fits is returned whole, with "";
    the rest is returned without the spaces at the cut.
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    if segments(text + suffix).count <= max_segments:
        return text + suffix, ""
    if segments(text.rstrip() + suffix).count <= max_segments:  # only trailing spaces overflow
        return text.rstrip() + suffix, ""

    def fits(end: int) -> bool:
        return segments(text[:end].rstrip() + ellipsis + suffix).count <= max_segments

    # A longer start never needs fewer segments, so the longest that fits can be found by halving.
    low, high = 0, len(text)  # fits(low) is assumed (the ellipsis alone), fits(high) is known false
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    end = _cut(text, low)
    return text[:end].rstrip() + ellipsis + suffix, text[end:].lstrip()


def _cut(text: str, end: int) -> int:
    """Where to cut at or before `end`: at a space near it if any, and never inside a character's marks."""
    if end < len(text) and not text[end].isspace():
        for space in range(end - 1, max(1, end - WORD_BOUNDARY_REACH) - 1, -1):
            if text[space].isspace():
                return space
    while 0 < end < len(text) and (_joins_previous(text[end]) or text[end - 1] == ZWJ):
        end -= 1
    return end


def _joins_previous(char: str) -> bool:
    """A combining accent, joiner, variation selector or skin tone: cut before it and a letter or emoji breaks."""
    return (bool(unicodedata.combining(char)) or char == ZWJ or "\ufe00" <= char <= "\ufe0f"
            or "\U0001f3fb" <= char <= "\U0001f3ff")


def _utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _count(costs: list[int], single: int, part: int) -> int:
    """Segments for characters of these costs: one if they all fit, else parts that never split a character.

    An escape pair (GSM-7) or a surrogate pair (UCS-2) that would straddle two parts starts the next one.
    """
    if sum(costs) <= single:
        return 1
    count, used = 1, 0
    for cost in costs:
        if used + cost > part:
            count, used = count + 1, 0
        used += cost
    return count
