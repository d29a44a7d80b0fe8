"""What a log line may say about a person: an address only as its first letter and domain, a phone
number only as its last two digits, and nothing of a row the database quotes back in an error.

Logs at INFO and above go to files and terminals that more people read than the case files; server
replies and parse errors quote addresses, so they pass through here first, and the hub's log handler
(hub.core.logs) passes every line through `log_text` besides. (Case references lose their check codes in
`References.redact`.)
"""

from __future__ import annotations

import re

ADDRESS = re.compile(r"([\w.+-])[\w.+-]*@([\w-]+(?:\.[\w-]+)+)")


PHONE = re.compile(r"\+\d{4,13}(\d{2})\b")

# PostgreSQL's DETAIL line quotes the values of the row that failed ("Failing row contains (…)",
# "Key (sender)=(…) already exists"): the whole message, the constituent's address and number.
DATABASE_DETAIL = re.compile(r"(?m)^DETAIL:(\s*).*$")
HIDDEN_DETAIL = r"DETAIL:\1(hidden in logs: the database quotes the row's values here)"


def addresses(text: str) -> str:
    """`pat.example@mail.example.com` -> `p…@mail.example.com`; `+19195550142` -> `+…42`."""
    return PHONE.sub(r"+…\1", ADDRESS.sub(r"\1…@\2", text or ""))


def log_text(text: str) -> str:
    """A log line, traceback included, with addresses and numbers shortened and database details hidden."""
    return addresses(DATABASE_DETAIL.sub(HIDDEN_DETAIL, text))
