"""The new text of a reply: quoted history and signature removed (mail-parser-reply does the work).

What the library leaves behind at the end of the new text — the separator line above an Outlook
header block, a lone `--`, a "Sent from my phone" line — is trimmed here.
"""

from __future__ import annotations

import re

from mailparser_reply import EmailReplyParser

# Languages whose "On … wrote:" / "From: … Sent:" headers are recognised; English is always included.
LANGUAGES = ["en", "es", "fr", "de", "it", "nl", "pl", "pt", "sv", "da"]
_parser = EmailReplyParser(languages=LANGUAGES)

_LEFTOVER = re.compile(
    r"^\s*(?:[-_=*~#+\u1427\u2014]{2,}|[-_=*~#+\u1427\u2014]|"
    r"(?:sent|get|envoy[ée]|enviado|gesendet)\b.{0,60}\b(?:from|de|von|desde)\b.{0,80}|"
    r"sent from (?:my )?\S+(?: \S+){0,3})\s*$",
    re.IGNORECASE,
)


def new_text(text: str) -> str:
    """The part of `text` its sender wrote now. A message that is only a quote is kept whole."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return ""
    try:
        reply = _parser.parse_reply(text)
    except RecursionError:
        reply = None
    if not reply or not reply.strip():
        return text.strip()
    lines = reply.rstrip().split("\n")
    while lines and (not lines[-1].strip() or _LEFTOVER.match(lines[-1])):
        lines.pop()
    trimmed = "\n".join(lines).strip()
    return trimmed or text.strip()
