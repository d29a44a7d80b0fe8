"""A text as the hub keeps it: one JSON document (the raw bytes of an SMS), and its reading as an
InboundMessage.

Polling and the webhook both build the same record, so a text is stored once whichever way it came
(the dedupe key is Twilio's Message SID), and a quarantined text can be read again from its bytes:
the media are inside, base64-encoded.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from hub.errors import QuarantineError
from hub.intake.message import InboundAttachment, InboundMessage
from hub.phones import normalise

SOURCE = "sms:twilio"


@dataclass(frozen=True)
class Media:
    sid: str
    content_type: str
    data: bytes | None
    problem: str = ""  # why `data` is missing (too large, could not be downloaded)


def sms_record(sid: str, sender: str, to: str, body: str, sent: datetime | None, media: list[Media]) -> bytes:
    """The canonical bytes of one inbound text."""
    return json.dumps({
        "sid": sid, "from": sender, "to": to, "body": body,
        "date_sent": sent.astimezone(UTC).isoformat() if sent else None,
        "media": [{"sid": m.sid, "content_type": m.content_type, "problem": m.problem,
                   "data": base64.b64encode(m.data).decode() if m.data is not None else None} for m in media],
    }, sort_keys=True).encode()


def parse_sms(raw: bytes, source: str, max_attachment_bytes: int) -> InboundMessage:
    """Read a record made by `sms_record`; anything else is a QuarantineError naming what is wrong."""
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
    extension = content_type.split("/")[-1].split(";")[0].strip() or "bin"
    name = f"{item.get('sid') or 'media'}.{extension}"
    if item.get("problem"):
        name += f" ({item['problem']})"
    return InboundAttachment(name, content_type, size, data if data is not None and size <= max_bytes else None)
