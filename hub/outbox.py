"""The outbox: every outbound message is first a row, with its Message-ID fixed at enqueue.

Delivery workers (a later stage) claim rows with a lease, send them and mark them with the
provider's id; because the Message-ID never changes, a retried send is recognisably the same message.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.models import Case, Outbox
from hub.refs import References


def enqueue(session: Session, *, case: Case | None, letter: str, recipient: str, refs: References,
            domain: str, now: datetime, in_reply_to: str | None = None, channel: str = "email") -> Outbox:
    reference = refs.parse(case.ref) if case else None
    row = Outbox(
        case=case,
        channel=channel,
        letter=letter,
        recipient=recipient,
        message_id=refs.message_id(domain, reference),
        in_reply_to=in_reply_to,
        context={},
        state="pending",
        attempts=0,
        not_before=now,
        created_at=now,
    )
    session.add(row)
    return row
