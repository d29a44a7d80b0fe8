"""Where each message of an mbox archive starts and stops, found before any message is read.

The `mailbox` module hands out a message only whole, and reads its table of contents a line at a time,
where one line can be the whole file. This scan reads at most a block at a time and finds the same
spans as `mailbox.mbox` does (a "From " line at the start of a line begins a message; the blank line
before it belongs to neither), so a source knows each message's size before it reads the message.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

BLOCK = 1024 * 1024


def mbox_spans(path: Path, block: int = BLOCK) -> Iterator[tuple[int, int]]:
    """(start, stop) byte offsets of each message's content: from the end of its "From " line to the
    next one, less the empty line before it."""
    with path.open("rb") as handle:
        position = 0
        begun = in_from_line = False
        start = 0
        at_line_start, last_was_empty = True, False
        for piece in iter(partial(handle.readline, block), b""):  # a line, or a block of a longer one
            if at_line_start and piece.startswith(b"From "):
                if begun:
                    yield start, position - 1 if last_was_empty else position
                begun = in_from_line = True
            last_was_empty = at_line_start and piece == b"\n"
            at_line_start = piece.endswith(b"\n")
            position += len(piece)
            if in_from_line and at_line_start:
                in_from_line, start = False, position
        if begun:
            yield (position if in_from_line else start), position - 1 if last_was_empty else position
