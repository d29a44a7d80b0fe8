"""The marker lines around the hub's own mail to staff, and their removal from what staff write back.

A caseworker answers a notice by replying to it, and her mail client keeps the notice below her words:
quoted with `>` (Gmail, Thunderbird), under an Outlook header block, turned into HTML and back, or
pasted as it is. Whatever the client did, the lines from the first marker to the last are the hub's
and never go to a constituent or an agency. The markers are plain ASCII lines short enough to survive
a `> > ` quote without being wrapped; a start marker whose end was lost cuts to the end of the text.
"""

from __future__ import annotations

import re

NAME = "casework-hub notice"
START = "----- " + NAME + "{ref}: reply above this line -----"
END = "----- end of " + NAME + "{ref} -----"
# Quote marks, spaces (also no-break ones from HTML) and the stars or underscores of a client's markup.
_LEAD = r"^[>\s*_]*-{3,}\s*"
_START_LINE = re.compile(_LEAD + r"casework-hub\s+notice\b", re.IGNORECASE)
_END_LINE = re.compile(_LEAD + r"end\s+of\s+casework-hub\s+notice\b", re.IGNORECASE)


def marked(body: str, case_ref: str | None) -> str:
    """`body` between the start and end markers (naming the case, when there is one)."""
    ref = f" {case_ref}" if case_ref else ""
    return f"{START.format(ref=ref)}\n\n{body.strip()}\n\n{END.format(ref=ref)}"


def without_notices(text: str) -> str:
    """`text` without the hub's notices in it, quoted or not: each from its start marker to its end marker."""
    if "casework-hub" not in text.lower():
        return text
    kept: list[str] = []
    inside = False
    for line in text.split("\n"):
        if inside:
            inside = _END_LINE.match(line) is None
        elif _START_LINE.match(line):
            inside = True
        else:
            kept.append(line)
    return "\n".join(kept)
