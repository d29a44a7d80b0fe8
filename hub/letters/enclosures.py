"""The files a letter carries from the case, chosen where its text is rendered so the text can say so:
a letter to the agency encloses the privacy release on file; a caseworker's notice, the files of the
message it is about, as many as fit in `[letters] notice_attachment_bytes` (the rest are named); a
caseworker's relayed text, the files chosen when it was queued (hub.intake.reply_files)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from hub.core.config import Config
from hub.core.file_store import bytes_are_kept
from hub.core.models import Attachment, Case
from hub.letters.notice_digest import NOTICE
from hub.letters.release import evidence, valid_release
from hub.letters.templates import AGENCY_LETTERS, RELAY

_MESSAGE_FILES = "letters.message_files"  # the session.info key of what message_files read, with its transaction
# A message's files, without their bytes: built once, as a notice asks for every message it is about.
_FILES_OF = (select(Attachment.id, Attachment.filename, Attachment.content_type, Attachment.size, Attachment.oversized,
                    bytes_are_kept()).where(Attachment.message_id == bindparam("message_id")).order_by(Attachment.id))


@dataclass(frozen=True)
class MessageFile:
    attachment_id: int
    name: str
    content_type: str
    size: int
    attached: bool  # goes with the notice; else too large for it (or not kept at all)


def message_files(session: Session, message_row_id: int, budget: int) -> list[MessageFile]:
    """The message's files in order; those the hub holds go with a notice while their sizes add up to
    no more than `budget` bytes. Their bytes are not read here: the notice's text and its enclosures
    both ask, and only the composed message needs them; the second is answered from the first, kept for
    the session's transaction, so that the text names exactly the files that go."""
    transaction = session.get_transaction()
    kept = session.info.get(_MESSAGE_FILES)
    if kept is None or kept[0] is not transaction:
        kept = session.info[_MESSAGE_FILES] = (transaction, {})
    known: dict[tuple[int, int], list[MessageFile]] = kept[1]
    if (message_row_id, budget) not in known:
        known[message_row_id, budget] = _message_files(session, message_row_id, budget)
    return known[message_row_id, budget]


def _message_files(session: Session, message_row_id: int, budget: int) -> list[MessageFile]:
    rows = session.execute(_FILES_OF, {"message_id": message_row_id}).all()
    fitting = within_budget([(size, held and not oversized) for _, _, _, size, oversized, held in rows], budget)
    return [MessageFile(row_id, filename or f"attachment-{row_id}", content_type, size, fits)
            for (row_id, filename, content_type, size, _, _), fits in zip(rows, fitting, strict=True)]


def within_budget(files: list[tuple[int, bool]], budget: int) -> list[bool]:
    """Which of the files, (size, its bytes are held) in order, go with one message: those held, while their
    sizes add up to no more than `budget` bytes."""
    going, room = [], budget
    for size, held in files:
        fits = held and size <= room
        room -= size if fits else 0
        going.append(fits)
    return going


def enclosures(session: Session, config: Config, case: Case, letter: str, context: dict[str, Any],
               now: datetime) -> list[int]:
    """The ids of the case's files that go with `letter` (its outbox row's `context`)."""
    if letter in AGENCY_LETTERS:
        today = now.astimezone(ZoneInfo(config.office.timezone)).date()
        found = evidence(session, valid_release(session, case, config.agency(case.agency), today))
        return [found] if found is not None else []
    if letter == RELAY:
        return [int(attachment_id) for attachment_id in context.get("files", ())]
    if letter == NOTICE and context.get("message_row_id"):
        return [file.attachment_id for file in message_files(session, int(context["message_row_id"]),
                                                              config.letters.notice_attachment_bytes)
                if file.attached]
    return []


def file_fields(file: MessageFile) -> dict[str, Any]:
    """A file as a letter names it: `award-letter.png (PNG image, 8.8 KB)`."""
    return {"name": file.name, "type": _kind(file.content_type), "size": spoken_size(file.size),
            "attached": file.attached}


def described(name: str, content_type: str, size: int) -> str:
    """`award-letter.png (PNG image, 8.8 KB)`, as a letter or a confirmation names a file."""
    return f"{name} ({_kind(content_type)}, {spoken_size(size)})"


def _kind(content_type: str) -> str:
    main, _, sub = content_type.lower().partition("/")
    sub = sub.split(";")[0].strip()
    if main == "application" and sub:
        return {"pdf": "PDF", "msword": "Word document", "zip": "ZIP archive"}.get(sub, sub.upper()[:20])
    return f"{sub.upper()[:10]} {main}".strip() if main in ("image", "audio", "video") else content_type[:40]


def spoken_size(size: int) -> str:
    """`8.8 KB`."""
    for unit, step in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= step:
            return f"{size / step:.1f} {unit}"
    return f"{size} bytes"
