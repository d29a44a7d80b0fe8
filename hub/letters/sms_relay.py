"""A caseworker's mail reply made into a text: typographic characters that would triple its cost
replaced, signed with the caseworker's first name and the office (the office alone when she signed it
herself), and cut to the segment limit."""

from __future__ import annotations

from hub.core.config_values import Staff
from hub.letters.signature import sign_off_start
from hub.letters.sms_text import to_gsm7, trim_to_segments


def sms_relay(text: str, staff: Staff | None, office_name: str, max_segments: int) -> tuple[str, str]:
    """(the text to send, the part the limit cut off, "" when nothing was)."""
    signed = sign_off_start(text, staff) is not None
    who = (staff.first_name or staff.name) if staff and not signed else ""
    signature = f"\n- {who}, {office_name}" if who else f"\n- {office_name}"
    words = "\n".join(line.rstrip() for line in to_gsm7(text).strip().splitlines())
    return trim_to_segments(words, max_segments, suffix=to_gsm7(signature))
