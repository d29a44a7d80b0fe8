"""The new text of a reply: what its sender wrote now, without the quoted history or signature.

mail-parser-reply finds where the quoted history starts: its English and Spanish patterns know Gmail and
Apple Mail "On … wrote:", Outlook "From:/Sent:/To:" blocks (also with `*From:*` stars) and
"-----Original Message-----". This module adds what it misses, each rule for cases in the test corpus
(shared/corpus, named in the comments):

- other marks where the history starts: attribution lines in any language ("El … escribió:",
  "Am … schrieb …:", "… <addr>:"), localized Outlook blocks and separators, Android and Zoho
  `---- … wrote ----`, old Gmail `2016-03-03 17:21 GMT+01:00 Name <addr>`, and a phone signature
  such as "Sent from my iPhone", which clients put between the new text and the original;
- a reply written below the quote (bottom-posted, or answers between quoted lines): its unquoted
  lines are the new text;
- leftovers at the end: a `>` quote and the line introducing it, a `--` signature, phone signatures,
  separator lines, the From:/Reply-To: lines above a header block the library caught late.

The lines kept are the original ones, so indentation and code survive. `written_now` says "" when nothing
is left; `new_text`, for storing a message, keeps one that is only a quote whole.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from itertools import accumulate

from hub.intake.parse.reply_marks import (
    ATTRIBUTION,
    DATE_OR_ADDRESS,
    DEVICE_SIGNATURE,
    DEVICE_SIGNATURE_LINE,
    DEVICE_WORD,
    FROM_BLOCK,
    FROM_LINE,
    HEADERISH,
    LIBRARY_HEADER,
    LINE_END_COLON,
    MARKER,
    SENTENCE_END,
    SEPARATOR,
    SIGNATURE_START,
    TIME_OR_ADDRESS,
)

# History is searched for in the first this-many characters only (bounds the time for huge bodies).
_SEARCH_LIMIT = 50_000
# A header found by a later search may start before an earlier find and run this far past it.
_RUN_ON = 500
# The library's header blocks are matched over at most this many lines.
_MAX_HEADER_LINES = 25
# At most this many "answered below the quote" rounds; anything after is kept as it is.
_MAX_ROUNDS = 20
# A signature after "--" is at most this many non-blank lines; a longer tail is text.
_MAX_SIGNATURE_LINES = 10

_Span = tuple[int, int]


def new_text(text: str) -> str:
    """The part of `text` its sender wrote now. A message that is only a quote is kept whole."""
    return written_now(text) or (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def written_now(text: str) -> str:
    """The part of `text` its sender wrote now; "" when nothing is left (what a relay must send)."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return ""
    lines, cut = _above_history(text.split("\n"))
    lines = _trim_tail(lines, cut)
    # leading blank lines, and a rule left alone above the history (Outlook's "____" line)
    while lines and SEPARATOR.match(lines[0]) and (not lines[0].strip() or len(lines) == 1):
        lines.pop(0)
    return "\n".join(lines).rstrip()


def _above_history(lines: list[str]) -> tuple[list[str], bool]:
    """The lines above the quoted history, plus those written below a quote; and whether any was cut."""
    kept: list[str] = []
    below = False  # once text was found below a quote, the quoted lines around it are dropped
    for _ in range(_MAX_ROUNDS):
        stripped = [line.strip() for line in lines]
        found = _history_start(stripped)
        if found is None:
            return kept + (_unquoted(lines) if below else lines), below
        start, body = found
        kept += _unquoted(lines[:start]) if below else lines[:start]
        end = _quote_end(stripped, _skip_blank(stripped, body))
        if end is None or not _is_new_text(stripped, end):
            return kept, True
        # Text below the quote: a bottom-posted reply or answers between quoted lines
        # (github email_1_2 and email_1_8, talon test_reply_after_quotations).
        below = True
        lines = lines[end:]
    return kept + _unquoted(lines), True


def _unquoted(lines: list[str]) -> list[str]:
    """`lines` without the quoted ones, and without the runs of blank lines that leaves."""
    kept: list[str] = []
    for line in lines:
        if not line.lstrip().startswith(">") and (line.strip() or not kept or kept[-1].strip()):
            kept.append(line)
    return kept


class _Text:
    """The stripped lines of a message joined into one string, with line numbers for offsets."""

    def __init__(self, stripped: list[str]) -> None:
        self.stripped = stripped
        self.joined = "\n".join(stripped)
        self.starts = [0, *accumulate(len(line) + 1 for line in stripped)]

    def line_of(self, offset: int) -> int:
        return bisect_right(self.starts, offset) - 1


def _history_start(stripped: list[str]) -> tuple[int, int] | None:
    """(first line of the earliest mark of quoted history, first line after the mark), or None.

    The cheaper searches run first; each find bounds where the later ones look, the library last."""
    count = size = 0
    while count < len(stripped) and size <= _SEARCH_LIMIT + _RUN_ON:
        size += len(stripped[count]) + 1
        count += 1
    text = _Text(stripped[:count])
    limit = min(len(text.joined), _SEARCH_LIMIT)
    best: _Span | None = None
    for find in (_attribution, _marker, _from_block, _device_signature, _library_header):
        span = find(text, limit)
        if span is not None and span[0] < limit:
            best, limit = span, span[0]
    if best is None:
        return None
    return text.line_of(best[0]), text.line_of(best[1]) + 1


def _first(regex: re.Pattern[str], text: _Text, limit: int, accept: Callable[[re.Match[str]], object]) -> _Span | None:
    """The first accepted match starting before `limit` (it may run on past it)."""
    endpos = min(len(text.joined), limit + _RUN_ON)
    match = regex.search(text.joined, 0, endpos)
    while match is not None and match.start() < limit and not accept(match):
        match = regex.search(text.joined, match.end(), endpos)
    return None if match is None or match.start() >= limit else match.span()


def _attribution(text: _Text, limit: int) -> _Span | None:
    for match in LINE_END_COLON.finditer(text.joined, 0, limit):
        index = text.line_of(match.start())
        start = _attribution_start(text.stripped, index, quote_below=False)
        if start is not None:
            return text.starts[start], match.end()
    return None


def _marker(text: _Text, limit: int) -> _Span | None:
    return _first(MARKER, text, limit, lambda match: True)


def _from_block(text: _Text, limit: int) -> _Span | None:
    return _first(FROM_BLOCK, text, limit, lambda match: TIME_OR_ADDRESS.search(_lines_from(text, match.start())))


def _device_signature(text: _Text, limit: int) -> _Span | None:
    def names_device(match: re.Match[str]) -> bool:
        # in the first five words: "Sent from my work laptop because my phone broke" is a sentence
        return match.start() > 0 and DEVICE_WORD.search(" ".join(match.group().split()[:5])) is not None

    return _first(DEVICE_SIGNATURE_LINE, text, limit, names_device)


def _library_header(text: _Text, limit: int) -> _Span | None:
    """The library's first acceptable header starting before `limit`.

    Every header it knows ends a line in a colon ("… wrote:", at most two lines below where it starts),
    is a "-----" line or a block of "Key:" lines, so its patterns are tried only there: run over a whole
    text they cost about 0.1 µs a character per language; tried at those lines, next to nothing."""
    endpos = min(len(text.joined), limit + _RUN_ON)
    tried = -1
    # a header that starts before the limit may end in a colon past it (crisp email_reply_header)
    for candidate in HEADERISH.finditer(text.joined, 0, endpos):
        line = text.line_of(candidate.start())
        for start in range(max(line - 2, tried + 1), line + 1):
            if text.starts[start] >= limit:
                return None
            tried = start
            # a header block is a few lines: bounding the match keeps 30,000 "From: x" lines linear
            bound = text.starts[min(start + _MAX_HEADER_LINES, len(text.stripped))] - 1
            match = LIBRARY_HEADER.match(text.joined, text.starts[start], min(endpos, bound))
            if match is not None and _real_header(text, match):
                return text.starts[start], match.end()
    return None


def _real_header(text: _Text, match: re.Match[str]) -> bool:
    """Not a constituent's own "Date: …\\nTo: …" lines or "On Monday, my caseworker wrote:"."""
    found = match.group().lower()
    return (
        "original" in found
        or bool(TIME_OR_ADDRESS.search(_lines_from(text, match.start())))
        or ("wrote" in found and bool(DATE_OR_ADDRESS.search(found)))
    )


def _lines_from(text: _Text, offset: int, count: int = 6) -> str:
    line = text.line_of(offset)
    return "\n".join(text.stripped[line : line + count])


def _attribution_start(stripped: list[str], index: int, quote_below: bool) -> int | None:
    """First line of an attribution ending at line `index` (wrapped over at most three lines), or None."""
    if not stripped[index].endswith((":", "：")):
        return None
    start = index
    while start > 0 and index - start < 2:
        above = stripped[start - 1]
        if not above or above.startswith(">") or SENTENCE_END.search(above) or not DATE_OR_ADDRESS.search(above):
            break
        start -= 1
    window = " ".join(stripped[start : index + 1])
    if quote_below:
        # Above a quote, a "wrote" verb is enough: old Gmail and Android put a date and no time ("El jueves,
        # 21 de noviembre de 2013, codinghorror escribió:", discourse embedded_email_spanish_1, russian_1).
        found = ATTRIBUTION.search(window) is not None or TIME_OR_ADDRESS.search(window) is not None
    else:
        found = ATTRIBUTION.search(window) is not None and TIME_OR_ADDRESS.search(window) is not None
    return start if found else None


def _skip_blank(stripped: list[str], index: int) -> int:
    while index < len(stripped) and not stripped[index]:
        index += 1
    return index


def _quote_end(stripped: list[str], index: int) -> int | None:
    """The line after the `>` block that starts at `index`, or None if none starts there."""
    if index >= len(stripped) or not stripped[index].startswith(">"):
        return None
    while index < len(stripped):
        line = stripped[index]
        # An unquoted line between two quoted ones is a quoted line that wrapped (talon
        # test_link_breaks_quotation_markers_sequence, crisp email_7).
        wrapped = (
            0 < index < len(stripped) - 1
            and stripped[index - 1].startswith(">")
            and stripped[index + 1].startswith(">")
        )
        if line and not line.startswith(">") and not wrapped:
            break
        index += 1
    return index


def _is_new_text(stripped: list[str], index: int) -> bool:
    """Whether what follows a quote is new text, not a signature, footer or the next header."""
    index = _skip_blank(stripped, index)
    if index >= len(stripped):
        return False
    line = stripped[index]
    return not (
        SIGNATURE_START.match(line)
        or SEPARATOR.match(line)
        or DEVICE_SIGNATURE.match(line)
        or FROM_LINE.match(line)
        or ATTRIBUTION.search(line)
    )


def _trim_tail(lines: list[str], cut: bool) -> list[str]:
    """Drop what is left at the end: blank and separator lines, phone signatures, a `--` signature, a
    `>` quote with the line introducing it, and (after a cut) the first lines of a header block."""
    stripped = [line.strip() for line in lines]
    first_text = next((i for i, line in enumerate(stripped) if line), len(lines))
    end = len(lines)
    while True:
        before = end
        while end - 1 > first_text and (
            SEPARATOR.match(stripped[end - 1]) or DEVICE_SIGNATURE.match(stripped[end - 1])
        ):
            end -= 1
        # a signature: "--" or an underscore rule, then a few lines with no quote (discourse usenet)
        tail = [i for i in range(max(0, end - 2 * _MAX_SIGNATURE_LINES), end) if stripped[i]]
        for i in tail[-_MAX_SIGNATURE_LINES - 1 :]:
            if (
                i > first_text
                and SIGNATURE_START.match(stripped[i])
                and not any(line.startswith(">") for line in stripped[i:end])
            ):
                end = i
                break
        # a quote at the end, and its attribution even in a language the rules above do not know
        # (discourse embedded_email_chinese, ukrainian, portuguese; talon android.eml)
        if end and stripped[end - 1].startswith(">"):
            start = end
            while start and (not stripped[start - 1] or stripped[start - 1].startswith(">")):
                start -= 1
            if start > first_text:
                end = start
                above = _last_text(stripped, start)
                first = _attribution_start(stripped, above, quote_below=True) if above > first_text else None
                if first is not None and first > first_text:
                    end = first
        # the From: or Reply-To: lines above the block the library matched from its Date: or Sent: line
        # (discourse email_headers_3, email_headers_5; talon test_bold_from_block)
        if cut:
            for i in range(max(first_text + 1, end - 3), end):
                if FROM_LINE.match(stripped[i]):
                    end = i
                    break
        if end == before:
            return lines[:end]


def _last_text(stripped: list[str], index: int) -> int:
    """The last non-blank line above `index` (0 if none)."""
    index -= 1
    while index > 0 and not stripped[index]:
        index -= 1
    return max(index, 0)
