"""The outbox: every outbound message is first a row, with its Message-ID fixed at enqueue.

Delivery workers (a later stage) claim rows with a lease, send them and mark them with the
provider's id; because the Message-ID never changes, a retried send is recognisably the same message.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert

from hub.models import Outbox
from hub.refs import References

_INSERT = insert(Outbox).returning(Outbox.id)


def enqueue(connection: Connection, *, case_id: int | None, case_ref: str | None, letter: str, recipient: str,
            refs: References, domain: str, now: datetime, in_reply_to: str | None = None,
            channel: str = "email") -> int:
    """Add an outbound message to the outbox in the caller's transaction; returns the row's id."""
    reference = refs.parse(case_ref) if case_ref else None
    row_id: int = connection.execute(_INSERT, dict(
        case_id=case_id, channel=channel, letter=letter, recipient=recipient,
        message_id=refs.message_id(domain, reference), in_reply_to=in_reply_to, context={}, state="pending",
        attempts=0, not_before=now, created_at=now)).scalar_one()
    return row_id
