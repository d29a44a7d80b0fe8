"""What a log line may say about a person: an address only as its first letter and domain, a phone
number only as its last two digits.

Logs at INFO and above go to files and terminals that more people read than the case files; server
replies and parse errors quote addresses, so they pass through here first. (Case references lose
their check codes in `References.redact`.)
"""

from __future__ import annotations

import re

ADDRESS = re.compile(r"([\w.+-])[\w.+-]*@([\w-]+(?:\.[\w-]+)+)")


PHONE = re.compile(r"\+\d{4,13}(\d{2})\b")


def addresses(text: str) -> str:
    """`pat.example@mail.example.com` -> `p…@mail.example.com`; `+19195550142` -> `+…42`."""
    return PHONE.sub(r"+…\1", ADDRESS.sub(r"\1…@\2", text or ""))
