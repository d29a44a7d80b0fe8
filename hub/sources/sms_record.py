"""A text as the hub keeps it: one JSON document, the raw bytes of an SMS (read by hub.intake.parse.sms).

Polling and the webhook both build the same record, so a text is stored once whichever way it came
(the dedupe key is Twilio's Message SID), and a quarantined text can be read again from its bytes:
the media are inside, base64-encoded.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from hub.delivery.twilio import Media

SOURCE = "sms:twilio"


def sms_record(sid: str, sender: str, to: str, body: str, sent: datetime | None, media: list[Media]) -> bytes:
    """The canonical bytes of one inbound text."""
    return json.dumps({
        "sid": sid, "from": sender, "to": to, "body": body,
        "date_sent": sent.astimezone(UTC).isoformat() if sent else None,
        "media": [{"sid": m.sid, "content_type": m.content_type, "problem": m.problem,
                   "data": base64.b64encode(m.data).decode() if m.data is not None else None} for m in media],
    }, sort_keys=True).encode()
