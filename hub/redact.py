"""What a log line may say about a person: an address only as its first letter and domain.

Logs at INFO and above go to files and terminals that more people read than the case files; server
replies and parse errors quote addresses, so they pass through here first. (Case references lose
their check codes in `References.redact`.)
"""

from __future__ import annotations

import re

ADDRESS = re.compile(r"([\w.+-])[\w.+-]*@([\w-]+(?:\.[\w-]+)+)")


def addresses(text: str) -> str:
    """`pat.example@mail.example.com` -> `p…@mail.example.com`."""
    return ADDRESS.sub(r"\1…@\2", text or "")
