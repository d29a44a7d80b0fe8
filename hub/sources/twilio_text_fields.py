"""The strict shape of an incoming-message webhook's fields: why a request with a valid signature is still
refused.

Twilio's signature covers the URL and each field's name and value run together in sorted order, with no
separator. The same signed string can therefore be cut differently: from a captured request, drop
NumMedia and append "NumMedia0" to MessageSid, and the signature still holds while the text has a new
MessageSid, the key the hub stores it by. A genuine text always has the shape checked here, and every
splice breaks it: a field that swallows its neighbour leaves that neighbour missing, or grows a value
whose format is fixed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

MAX_MEDIA_ITEMS = 10  # Twilio's own limit per message
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-f]{32}")
MEDIA_COUNT = re.compile(r"0|[1-9][0-9]?")
MEDIA_FIELD = re.compile(r"(MediaUrl|MediaContentType)(.*)", re.DOTALL)
PLAIN_NAME = re.compile(r"[A-Za-z0-9]{1,40}")
REQUIRED = ("MessageSid", "AccountSid", "From", "To", "NumMedia")


def text_fields_problem(fields: Mapping[str, Sequence[str]], account_sid: str) -> str | None:
    """Why these form fields (every value of each) are not a text Twilio sent to `account_sid`; None when
    they are. The reason names fields only, never their values: they may be phone numbers or words."""
    for name, values in fields.items():
        if len(values) != 1:
            return f"{_shown(name)} is given more than once"
    value = {name: values[0] for name, values in fields.items()}
    sid = value.get("MessageSid")
    if sid is not None and not MESSAGE_SID.fullmatch(sid):
        return "MessageSid is not SM or MM followed by 32 hexadecimal digits"
    for name in REQUIRED:
        if name not in value:
            return f"no {name}"
    for name in ("SmsSid", "SmsMessageSid"):  # older names Twilio still sends alongside
        if name in value and value[name] != sid:
            return f"{name} differs from MessageSid"
    if value["AccountSid"] != account_sid:
        return "AccountSid is not this office's account"
    return _media_problem(value)


def _media_problem(value: Mapping[str, str]) -> str | None:
    if not MEDIA_COUNT.fullmatch(value["NumMedia"]) or int(value["NumMedia"]) > MAX_MEDIA_ITEMS:
        return f"NumMedia is not a whole number from 0 to {MAX_MEDIA_ITEMS}"
    count = int(value["NumMedia"])
    for index in range(count):
        if f"MediaUrl{index}" not in value:
            return f"NumMedia is {count} but there is no MediaUrl{index}"
    numbered = {str(index) for index in range(count)}
    for name in value:
        media = MEDIA_FIELD.fullmatch(name)
        if media is not None and media.group(2) not in numbered:
            return f"{_shown(name)} is beyond NumMedia {count}"
    return None


def _shown(name: str) -> str:
    # A name is the sender's text too: shown only when it looks like Twilio's, so that a reason stays one
    # short line with nothing personal in it.
    return name if PLAIN_NAME.fullmatch(name) else "a field with an odd name"
