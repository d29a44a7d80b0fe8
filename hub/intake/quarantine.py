"""Quarantine: inbound bytes the hub could not handle, kept whole with the reason.

Items are listed, retried through the normal inbound path (after a fix or a raised limit), or
discarded by a person. Holding the same bytes twice keeps one item. A message over the size limit is
the exception: the item holds its header and says where the message itself was left.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from email import policy
from email.parser import BytesHeaderParser

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.core import redact
from hub.core.errors import NotFoundError, UserError
from hub.core.models import Event, QuarantineItem
from hub.intake.message import Oversized

log = logging.getLogger(__name__)


def hold(sessions: sessionmaker[Session], raw: bytes, source: str, channel: str, reason: str,
         now: datetime, oversized: Oversized | None = None) -> int:
    """Keep `raw` in quarantine (once per distinct content); returns the item's id. With `oversized`,
    `raw` is only that message's header (held once per header, size and place)."""
    if oversized is None:
        key = f"sha256:{hashlib.sha256(raw).hexdigest()}"
    else:
        identity = b"\0".join((raw, str(oversized.size).encode(), oversized.kept_at.encode()))
        key = f"header-sha256:{hashlib.sha256(identity).hexdigest()}"
    reason = reason[:2000]
    try:
        with sessions.begin() as session:
            existing = session.scalar(select(QuarantineItem).where(QuarantineItem.dedupe_key == key))
            if existing is not None:
                if existing.state != "held":
                    existing.state, existing.reason, existing.closed_at = "held", reason, None
                return existing.id
            item = QuarantineItem(dedupe_key=key, source=source[:200], channel=channel, reason=reason, raw=raw,
                                  size=len(raw) if oversized is None else oversized.size,
                                  whole_message_at=None if oversized is None else oversized.kept_at, state="held",
                                  created_at=now)
            session.add(item)
            session.flush()
            session.add(Event(kind="quarantined", detail=f"quarantine item {item.id} from {source}: {reason}",
                              via=channel, at=now))
            log.warning("quarantined item %d from %s: %s", item.id, source, redact.addresses(reason))
            return item.id
    except IntegrityError:  # a concurrent writer held the same bytes first
        with sessions.begin() as session:
            return session.scalars(select(QuarantineItem.id).where(QuarantineItem.dedupe_key == key)).one()


def held_items(session: Session) -> list[QuarantineItem]:
    return list(session.scalars(select(QuarantineItem).where(QuarantineItem.state == "held")
                                .order_by(QuarantineItem.id)))


def whereabouts(item: QuarantineItem) -> str:
    """For an item that holds only a header: whom the message is from, its subject and where it is."""
    if item.whole_message_at is None:
        return ""
    try:
        header = BytesHeaderParser(policy=policy.default).parsebytes(item.raw)
        sender, subject = str(header.get("From", "")), str(header.get("Subject", ""))
    except (ValueError, TypeError, LookupError, AttributeError):  # the header is shown as far as it reads
        sender = subject = "?"
    return f'header only: {sender or "?"}, "{subject}"; the message is at {item.whole_message_at}'


def get_held(session: Session, item_id: int) -> QuarantineItem:
    item = session.get(QuarantineItem, item_id)
    if item is None:
        raise NotFoundError(f"no quarantine item {item_id}")
    if item.state != "held":
        raise UserError(f"quarantine item {item_id} is already {item.state}")
    return item


def close(sessions: sessionmaker[Session], item_id: int, state: str, actor: str, now: datetime) -> None:
    with sessions.begin() as session:
        item = get_held(session, item_id)
        item.state, item.closed_at = state, now
        session.add(Event(kind=f"quarantine-{state}", detail=f"quarantine item {item_id}", actor=actor,
                          via="cli", at=now))
