"""The files inside a message's raw bytes: where those bytes hold a file's base64 exactly as the file's
own canonical encoding (so the file, stored once, can be cut out of them), and splicing the files back.

A cut is a region of the raw bytes equal to `b64encode(file)` in lines of `line_length` characters joined
by a line ending (the last line's own ending is not part of it). Finding never parses the message and
never builds the whole base64 of a file: it looks for the base64 of the file's first bytes, learns the
line length and ending there, then compares a block of lines at a time. Splicing encodes with the same
blocks, so what it puts back is what was compared.
"""

from __future__ import annotations

import io
from base64 import b64encode
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

ENDINGS = {"crlf": b"\r\n", "lf": b"\n"}
# The base64 of a file's first 30 bytes is 40 characters: inside the first line at any line length from 40.
PREFIX_BYTES = 30
# Smaller files stay in the raw bytes: their cut row would cost about what it saves.
MIN_FILE_BYTES = 256
BLOCK_LINES = 1024
ONE_LINE_BLOCK = 3 * 64 * 1024  # bytes of a file encoded at a time when its base64 is one line
# Comparing may cost at most this many times the raw bytes' size (plus a megabyte): mail built so that a
# file's first bytes recur on every line, with its base64 spoiled at the end, stays linear.
COMPARE_BUDGET = 4


@dataclass(frozen=True)
class Cut:
    start: int          # where the region starts: in the raw bytes when found, in the skeleton when kept
    length: int         # the region's length in the raw bytes
    sha256: str
    line_length: int    # characters of base64 a line; the base64 length itself when it is one line
    ending: str         # a key of ENDINGS


def region_blocks(data: bytes, line_length: int, ending: str) -> Iterator[bytes]:
    """`b64encode(data)` in lines of `line_length` joined by the ending, a block of lines at a time."""
    view = memoryview(data)
    per_line = line_length // 4 * 3
    if per_line >= len(data):
        for start in range(0, len(data), ONE_LINE_BLOCK):
            yield b64encode(view[start:start + ONE_LINE_BLOCK])
        return
    separator = ENDINGS[ending]
    step = per_line * BLOCK_LINES
    for start in range(0, len(data), step):
        encoded = b64encode(view[start:start + step])
        lines = [encoded[at:at + line_length] for at in range(0, len(encoded), line_length)]
        if start + step < len(data):
            lines.append(b"")  # the next block goes on after this one's last line ending
        yield separator.join(lines)


def find_cuts(raw: bytes, files: Mapping[str, bytes]) -> list[Cut]:
    """Where `raw` holds the canonical base64 of `files` (by SHA-256), in order, none overlapping."""
    budget = [COMPARE_BUDGET * len(raw) + 1024 * 1024]
    found = []
    for sha256, data in files.items():
        if len(data) < MIN_FILE_BYTES:
            continue
        prefix = b64encode(data[:PREFIX_BYTES])
        at = raw.find(prefix)
        while at >= 0 and budget[0] > 0:
            cut = _cut_at(raw, at, sha256, data, budget)
            found += [cut] if cut else []
            at = raw.find(prefix, at + (cut.length if cut else 1))
    return _apart(found)


def _cut_at(raw: bytes, at: int, sha256: str, data: bytes, budget: list[int]) -> Cut | None:
    """The cut of `data`'s base64 starting at `at`, when the bytes there are exactly that."""
    encoded_length = (len(data) + 2) // 3 * 4
    end = raw.find(b"\n", at, at + encoded_length + 1)
    crlf = end > at and raw[end - 1] == 13
    width = end - at - crlf
    if end < 0 or width >= encoded_length:
        line_length, ending = encoded_length, "lf"  # all on one line: its ending does not matter
    elif width % 4:
        return None
    else:
        line_length, ending = width, "crlf" if crlf else "lf"
    position = at
    for block in region_blocks(data, line_length, ending):
        budget[0] -= len(block)
        if raw[position:position + len(block)] != block:
            return None
        position += len(block)
    return Cut(at, position - at, sha256, line_length, ending)


def _apart(cuts: list[Cut]) -> list[Cut]:
    """The cuts in order, dropping any that overlaps an earlier (or, at one start, a longer) one."""
    kept: list[Cut] = []
    for cut in sorted(cuts, key=lambda cut: (cut.start, -cut.length)):
        if not kept or cut.start >= kept[-1].start + kept[-1].length:
            kept.append(cut)
    return kept


def skeleton(raw: bytes, cuts: Sequence[Cut]) -> tuple[bytes, list[Cut]]:
    """`raw` without the regions of `cuts` (found in it, in order), and the cuts placed in what is left."""
    if not cuts:
        return raw, []
    view, pieces, placed, previous, removed = memoryview(raw), [], [], 0, 0
    for cut in cuts:
        pieces.append(view[previous:cut.start])
        placed.append(replace(cut, start=cut.start - removed))
        removed += cut.length
        previous = cut.start + cut.length
    pieces.append(view[previous:])
    return b"".join(pieces), placed


def splice(skeleton: bytes, cuts: Sequence[Cut], file_of: Callable[[str], bytes]) -> bytes:
    """The raw bytes again: the files' base64 put back where `cuts` (placed in the skeleton) say.
    ValueError when a cut cannot be where it says (out of order, outside the skeleton, a bad line)."""
    out, view, previous = io.BytesIO(), memoryview(skeleton), 0
    for cut in cuts:
        if not previous <= cut.start <= len(skeleton) or cut.line_length <= 0 or cut.line_length % 4 \
                or cut.ending not in ENDINGS:
            raise ValueError(f"a file's place at {cut.start} ({cut.line_length}, {cut.ending}) cannot be")
        out.write(view[previous:cut.start])
        for block in region_blocks(file_of(cut.sha256), cut.line_length, cut.ending):
            out.write(block)
        previous = cut.start
    out.write(view[previous:])
    return out.getvalue()
