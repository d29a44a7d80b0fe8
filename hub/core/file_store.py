"""Where a message's raw bytes and an attachment's bytes are kept, and the one way to read, write and
forget them.

Everything that needs the bytes of a filed message or of a file on a case goes through here, so that how
they are stored (in the row today) can change in one place. Retention (hub.cases.retention) also asks here
which rows still keep bytes and how many, as SQL it can filter and sum by.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, func
from sqlalchemy.orm import Session

from hub.core.models import Attachment, Message


def message_raw(session: Session, message: Message) -> bytes | None:
    """The message exactly as it arrived, or None when it was never kept or has been purged."""
    return message.raw


def keep_message_raw(session: Session, message: Message, raw: bytes) -> None:
    """Keep `raw` as the message's original bytes."""
    message.raw = raw


def forget_message_raw(session: Session, message: Message) -> None:
    """Remove the message's original bytes (retention); its parsed text and metadata stay."""
    message.raw = None


def attachment_bytes(session: Session, attachment: Attachment) -> bytes | None:
    """The file's decoded bytes, or None for a file too big to keep or one that has been purged."""
    return attachment.data


def keep_attachment_bytes(session: Session, attachment: Attachment, data: bytes) -> None:
    """Keep `data` as the file's bytes."""
    attachment.data = data


def forget_attachment_bytes(session: Session, attachment: Attachment) -> None:
    """Remove the file's bytes (retention); its name, type and size stay."""
    attachment.data = None


def raw_is_kept() -> ColumnElement[bool]:
    """SQL: the message row still has its original bytes."""
    return Message.raw.is_not(None)


def raw_size() -> ColumnElement[int]:
    """SQL: how many bytes of original mail the message row keeps (0 for none)."""
    return func.coalesce(func.length(Message.raw), 0)


def bytes_are_kept() -> ColumnElement[bool]:
    """SQL: the attachment row still has its bytes."""
    return Attachment.data.is_not(None)
