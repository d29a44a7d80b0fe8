"""A header line broken without indentation, rejoined so the headers after it are not lost.

RFC 5322 §2.2.3 folds a long header by starting the next line with white space. Some senders break an
address list or a subject with a bare line break instead; the stdlib parser then takes that line for the
start of the body, and every header after it (Subject, Message-ID, …) ends up in the text. A line in the
header block that is neither a field (`Name:`) nor a continuation, followed within a few lines by a field,
is a continuation that lost its indentation. A message with no blank line before its body (cpython
msg_35) is left alone: no field follows its first body line.
"""

from __future__ import annotations

import re

LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n|$)")
FIELD = re.compile(rb"[!-9;-~]+:")  # RFC 5322 §3.6.8: printable ASCII but the colon, then the colon
MOST_BROKEN_LINES = 3
MOST_HEADER_LINES = 10_000


def rejoin_broken_lines(raw: bytes) -> bytes:
    """`raw` with each broken header line indented, or `raw` itself when the header block has none."""
    lines: list[bytes] = []
    for match in LINE.finditer(raw):
        line = match.group(0)
        if not line.strip(b"\r\n") or len(lines) == MOST_HEADER_LINES:
            break  # the blank line: the header block ends
        lines.append(line)
    broken = set()
    for index, line in enumerate(lines):
        if _is_header(line) or index == 0 and line.startswith(b"From "):  # or an mbox separator
            continue
        if index == 0 or not any(_is_header(after) for after in lines[index + 1:index + 1 + MOST_BROKEN_LINES]):
            break  # not a header block, or the body starts here without a blank line
        broken.add(index)
    if not broken:
        return raw
    head = b"".join(b" " + line if index in broken else line for index, line in enumerate(lines))
    return head + raw[sum(len(line) for line in lines):]


def _is_header(line: bytes) -> bool:
    return line[:1] in (b" ", b"\t") or FIELD.match(line) is not None
