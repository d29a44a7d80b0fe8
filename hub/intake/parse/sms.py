"""A text's record (the JSON document hub.sources.sms_record writes: the raw bytes of an SMS) read as an
InboundMessage; a quarantined text is read again from the same bytes, its media inside.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from hub.core.errors import QuarantineError
from hub.core.phones import normalise
from hub.intake.message import InboundAttachment, InboundMessage


def parse_sms(raw: bytes, source: str, max_attachment_bytes: int) -> InboundMessage:
    """Read a record made by hub.sources.sms_record; anything else is a QuarantineError naming what is wrong."""
    try:
        record = json.loads(raw)
        sid, sender, to = str(record["sid"]), str(record["from"]), str(record["to"])
        body = str(record.get("body") or "")
        sent = datetime.fromisoformat(record["date_sent"]) if record.get("date_sent") else None
        attachments = tuple(_attachment(item, max_attachment_bytes) for item in record.get("media") or [])
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise QuarantineError(f"not a text message record: {type(error).__name__}: {error}") from None
    if not sid.startswith(("SM", "MM")):
        raise QuarantineError(f"not a Twilio Message SID: {sid[:40]!r}")
    # A short code or an alphanumeric sender stays as written: screening recognises it as a robot.
    number = normalise(sender) if sender.startswith("+") else None
    return InboundMessage(
        channel="sms", source=source, dedupe_key=f"twilio:{sid}", raw=raw, sender=number or sender.strip(),
        recipients=(normalise(to) or to,), text=body, new_text=body.strip(), date=sent, attachments=attachments)


def _attachment(item: dict[str, object], max_bytes: int) -> InboundAttachment:
    content_type = str(item.get("content_type") or "application/octet-stream")
    encoded = item.get("data")
    data = base64.b64decode(str(encoded), validate=True) if encoded is not None else None
    size = len(data) if data is not None else 0
    name = media_filename(str(item.get("sid") or "media"), content_type, str(item.get("problem") or ""))
    return InboundAttachment(name, content_type, size, data if data is not None and size <= max_bytes else None)


def media_filename(sid: str, content_type: str, problem: str = "") -> str:
    """A media item's name on the case: its SID and an extension from its type, and why its bytes are missing."""
    extension = content_type.split("/")[-1].split(";")[0].strip() or "bin"
    return f"{sid}.{extension}" + (f" ({problem})" if problem else "")
