"""The keywords of a text: the carriers' STOP and its synonyms, START, HELP; and the hub's STATUS (ESTADO).

A keyword counts only when it is the whole text (any case, surrounding spaces and a final full stop or
exclamation mark allowed), as carriers and Twilio read them: "please stop by the office" is a sentence.
"""

from __future__ import annotations

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN = frozenset({"START", "UNSTOP"})
HELP = frozenset({"HELP"})
# A constituent asking where their cases stand, and the language the answer is in (hub.intake.status_answer).
STATUS = {"STATUS": "en", "ESTADO": "es"}


def keyword(text: str) -> str | None:
    """"opt-out", "opt-in" or "help" for a keyword text; None for anything else."""
    word = _word(text, ".!")
    if word in OPT_OUT:
        return "opt-out"
    if word in OPT_IN:
        return "opt-in"
    if word in HELP:
        return "help"
    return None


def status_word(text: str) -> str | None:
    """The language of the answer ("en", "es") when the whole text asks for the status; None otherwise."""
    return STATUS.get(_word(text, ".!?"))


def _word(text: str, marks: str) -> str:
    return text.strip().rstrip(marks).strip().upper()
