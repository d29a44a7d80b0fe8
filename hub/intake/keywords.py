"""The carrier keywords of a text: STOP and its synonyms, START, HELP.

A keyword counts only when it is the whole text (any case, surrounding spaces and a final full stop or
exclamation mark allowed), as carriers and Twilio read them: "please stop by the office" is a sentence.
"""

from __future__ import annotations

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN = frozenset({"START", "UNSTOP"})
HELP = frozenset({"HELP"})


def keyword(text: str) -> str | None:
    """"opt-out", "opt-in" or "help" for a keyword text; None for anything else."""
    word = text.strip().rstrip(".!").strip().upper()
    if word in OPT_OUT:
        return "opt-out"
    if word in OPT_IN:
        return "opt-in"
    if word in HELP:
        return "help"
    return None
