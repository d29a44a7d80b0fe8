"""The files a letter carries from the case, chosen where its text is rendered so the text can say so:
a letter to the agency encloses the privacy release on file; a caseworker's notice, the files of the
message it is about, as many as fit in `[letters] notice_attachment_bytes` (the rest are named); a
caseworker's relayed text, the files chosen when it was queued (hub.intake.reply_files). A sender's signature
picture is no file of the case's: it stays on the case and goes with no notice, nor with her relayed text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Row, bindparam, exists, select
from sqlalchemy.orm import Session, aliased

from hub.core.config import Config
from hub.core.file_store import bytes_are_kept
from hub.core.models import Attachment, Case, Message
from hub.letters.notice_digest import NOTICE
from hub.letters.release import evidence, valid_release
from hub.letters.templates import AGENCY_LETTERS, RELAY

_MESSAGE_FILES = "letters.message_files"  # the session.info key of what message_files read, with its transaction
_OTHER_FILE, _OTHER_MESSAGE, _ITS_MESSAGE = aliased(Attachment), aliased(Message), aliased(Message)
# A picture shown inside its message that another message of the same sender showed inside it too: a signature's
# logo, which a mail client puts in every message its user writes (the first of them cannot tell it from a picture
# she pasted). Found by the files' index on their bytes (ix_attachments_sha256).
SIGNATURE_PICTURE: ColumnElement[bool] = Attachment.inline & exists().where(
    _OTHER_FILE.sha256 == Attachment.sha256, _OTHER_FILE.inline, _OTHER_FILE.message_id != Attachment.message_id,
    _OTHER_MESSAGE.id == _OTHER_FILE.message_id, _ITS_MESSAGE.id == Attachment.message_id,
    _OTHER_MESSAGE.sender == _ITS_MESSAGE.sender)
_SIGNATURE_PICTURES = select(Attachment.id).where(Attachment.message_id == bindparam("message_id"), SIGNATURE_PICTURE)
# A message's files, without their bytes: built once, as a notice asks for every message it is about.
_FILE_COLUMNS = (Attachment.id, Attachment.filename, Attachment.content_type, Attachment.size, Attachment.oversized,
                 bytes_are_kept().label("held"), SIGNATURE_PICTURE.label("signature"))
_FILES_OF = select(*_FILE_COLUMNS).where(Attachment.message_id == bindparam("message_id")).order_by(Attachment.id)
# Several messages' (a batch of notices'), each message's in the order of `_FILES_OF`.
_FILES_OF_MESSAGES = (select(Attachment.message_id, *_FILE_COLUMNS)
                      .where(Attachment.message_id.in_(bindparam("message_ids", expanding=True)))
                      .order_by(Attachment.message_id, Attachment.id))


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
    known = _known_files(session)
    if (message_row_id, budget) not in known:
        known[message_row_id, budget] = _message_files(session.execute(_FILES_OF, {"message_id": message_row_id}).all(),
                                                       budget)
    return known[message_row_id, budget]


def read_message_files(session: Session, message_row_ids: list[int], budget: int) -> None:
    """What `message_files` answers for each of several messages, read by one query and kept for the session's
    transaction as its own answers are."""
    known = _known_files(session)
    wanted = [row_id for row_id in message_row_ids if (row_id, budget) not in known]
    if not wanted:
        return
    files: dict[int, list[Row[*tuple[Any, ...]]]] = {row_id: [] for row_id in wanted}
    for row in session.connection().execute(_FILES_OF_MESSAGES, {"message_ids": wanted}):
        files[row.message_id].append(row)
    for row_id, rows in files.items():
        known[row_id, budget] = _message_files(rows, budget)


def _known_files(session: Session) -> dict[tuple[int, int], list[MessageFile]]:
    """What `message_files` has read in the session's current transaction, by (message row id, budget)."""
    transaction = session.get_transaction()
    kept = session.info.get(_MESSAGE_FILES)
    if kept is None or kept[0] is not transaction:
        kept = session.info[_MESSAGE_FILES] = (transaction, {})
    known: dict[tuple[int, int], list[MessageFile]] = kept[1]
    return known


def signature_pictures(session: Session, message_row_id: int) -> set[int]:
    """The attachment ids of the message's signature pictures (`SIGNATURE_PICTURE`)."""
    return set(session.scalars(_SIGNATURE_PICTURES, {"message_id": message_row_id}))


def _message_files(rows: Sequence[Row[*tuple[Any, ...]]], budget: int) -> list[MessageFile]:
    """One message's files (rows of `_FILES_OF`, in order) but its sender's signature pictures, each marked
    whether it goes."""
    rows = [row for row in rows if not row.signature]
    fitting = within_budget([(row.size, row.held and not row.oversized) for row in rows], budget)
    return [MessageFile(row.id, row.filename or f"attachment-{row.id}", row.content_type, row.size, fits)
            for row, fits in zip(rows, fitting, strict=True)]


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
