"""Where a message's raw bytes and an attachment's bytes are kept, and the one way to read, write and
forget them.

Each file is stored once, in `stored_files` by its SHA-256, however many messages carry or enclose it;
an attachment row names its file by that hash. A message's raw bytes are kept as a skeleton: the raw
with each region that is exactly a stored file's base64 cut out (hub.core.file_cuts), and a
`message_file_cuts` row for each cut saying where to put it back. Reading splices the files back and
checks the result against the SHA-256 of the raw bytes kept on the message, so damage is an error
(DamagedRecordError), never wrong bytes. Retention (hub.cases.retention) also asks here which rows still
keep bytes and how many, as SQL it can filter and sum by.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, delete, exists, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.core.db_pipeline import is_pipelined, write_only
from hub.core.errors import DamagedRecordError
from hub.core.file_cuts import Cut, find_cuts, skeleton, splice
from hub.core.models import Attachment, Message, MessageFileCut, StoredFile

# Its row count says whether the file was new (SQLAlchemy keeps an INSERT's count only when asked).
_INSERT_FILE = {name: dialect.insert(StoredFile).on_conflict_do_nothing(index_elements=["sha256"])
                .execution_options(preserve_rowcount=True)
                for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}
# In a pipelined batch (hub.core.db_pipeline) the insert is not waited for: the row that names the file (an
# attachment's, a cut's) follows in the same transaction, and its foreign key holds the file as _HOLD_FILE would; a
# purge that dropped the file meanwhile fails that insert, and the batch is filed again, carefully.
_STORE_FILE = write_only(postgresql.insert(StoredFile).on_conflict_do_nothing(index_elements=["sha256"]))
# A file found stored is held until the transaction ends, so that a purge cannot drop it in between.
_HOLD_FILE = select(StoredFile.sha256).where(StoredFile.sha256 == bindparam("sha256")).with_for_update(key_share=True)
_FILE_DATA = select(StoredFile.data).where(StoredFile.sha256 == bindparam("sha256"))
_INSERT_CUT = write_only(insert(MessageFileCut).inline())  # hub.core.db_pipeline
_CUTS = (select(MessageFileCut.position, MessageFileCut.sha256, MessageFileCut.line_length,
                MessageFileCut.line_ending)
         .where(MessageFileCut.message_id == bindparam("message_id")).order_by(MessageFileCut.position))
_RAW = select(Message.raw_skeleton, Message.raw_sha256).where(Message.id == bindparam("message_id"))
_DROP_UNUSED = (delete(StoredFile).where(StoredFile.sha256 == bindparam("sha256"),
                                         ~exists().where(Attachment.sha256 == StoredFile.sha256),
                                         ~exists().where(MessageFileCut.sha256 == StoredFile.sha256))
                .execution_options(synchronize_session=False))


@dataclass(frozen=True)
class KeptRaw:
    """A message's raw bytes as its row keeps them (`columns`) and the cuts that go with them."""

    skeleton: bytes
    sha256: str
    cuts: list[Cut]

    def columns(self) -> dict[str, Any]:
        return {"raw_skeleton": self.skeleton, "raw_sha256": self.sha256}


def keep_file(connection: Connection, data: bytes, sha256: str | None = None) -> str:
    """Store `data` once (nothing is written when it is stored already); its SHA-256, hex (`sha256`, when
    the caller has it already). In a pipelined batch the caller then writes the row that names the file."""
    sha256 = sha256 or hashlib.sha256(data).hexdigest()
    if is_pipelined(connection):
        connection.execute(_STORE_FILE, {"sha256": sha256, "size": len(data), "data": data})
        return sha256
    dialect = connection.dialect.name
    while True:
        if connection.execute(_INSERT_FILE[dialect], {"sha256": sha256, "size": len(data), "data": data}).rowcount:
            return sha256
        # SQLite has one writer at a time; PostgreSQL may have a purge dropping the file right now.
        if dialect != "postgresql" or connection.execute(_HOLD_FILE, {"sha256": sha256}).first() is not None:
            return sha256


def cut_raw(raw: bytes, files: Mapping[str, bytes]) -> KeptRaw:
    """`raw` with the base64 of `files` (stored already, by SHA-256) cut out where it is found exactly."""
    kept, cuts = skeleton(raw, find_cuts(raw, files))
    return KeptRaw(kept, hashlib.sha256(raw).hexdigest(), cuts)


def keep_cuts(connection: Connection, message_row_id: int, kept: KeptRaw) -> None:
    """Record where `kept`'s files go back into the raw bytes of message `message_row_id`."""
    if kept.cuts:
        connection.execute(_INSERT_CUT, [dict(message_id=message_row_id, position=cut.start, sha256=cut.sha256,
                                              line_length=cut.line_length, line_ending=cut.ending)
                                         for cut in kept.cuts])


def raw_of(connection: Connection, message_row_id: int) -> bytes | None:
    """Message `message_row_id`'s raw bytes as they came, or None when they were never kept or purged."""
    row = connection.execute(_RAW, {"message_id": message_row_id}).first()
    if row is None or row.raw_skeleton is None:
        return None
    cuts = [Cut(cut.position, 0, cut.sha256, cut.line_length, cut.line_ending)
            for cut in connection.execute(_CUTS, {"message_id": message_row_id})]
    return _rebuilt(connection, message_row_id, row.raw_skeleton, row.raw_sha256, cuts)


def message_raw(session: Session, message: Message) -> bytes | None:
    """The message exactly as it arrived, or None when it was never kept or has been purged."""
    if message.raw_skeleton is None:
        return None
    cuts = [Cut(cut.position, 0, cut.sha256, cut.line_length, cut.line_ending) for cut in message.file_cuts]
    return _rebuilt(session.connection(), message.id, message.raw_skeleton, message.raw_sha256, cuts)


def keep_message_raw(session: Session, message: Message, raw: bytes, files: Sequence[bytes] = ()) -> None:
    """Keep `raw` as the message's original bytes. Of `files`, the files it carries or encloses, each whose
    base64 is found in them is stored once and cut out of the bytes kept."""
    connection = session.connection()
    by_hash = {hashlib.sha256(data).hexdigest(): data for data in files}
    kept = cut_raw(raw, by_hash)
    for sha256 in {cut.sha256 for cut in kept.cuts}:
        keep_file(connection, by_hash[sha256], sha256)
    replaced = _forget_cuts(session, message) if message.id is not None else []
    message.raw_skeleton, message.raw_sha256 = kept.skeleton, kept.sha256
    message.file_cuts = [MessageFileCut(position=cut.start, sha256=cut.sha256, line_length=cut.line_length,
                                        line_ending=cut.ending) for cut in kept.cuts]
    if replaced:
        _drop_unused(session, replaced)


def forget_message_raw(session: Session, message: Message) -> None:
    """Remove the message's original bytes (retention); its parsed text and metadata stay, and so do the
    files still on a case. A file nothing refers to any more is dropped."""
    hashes = _forget_cuts(session, message) if message.id is not None else []
    message.raw_skeleton = message.raw_sha256 = None
    _drop_unused(session, hashes)


def attachment_bytes(session: Session, attachment: Attachment) -> bytes | None:
    """The file's decoded bytes, or None for a file too big to keep or one that has been purged."""
    if attachment.sha256 is None:
        return None
    data = session.scalar(_FILE_DATA, {"sha256": attachment.sha256})
    if data is None or hashlib.sha256(data).hexdigest() != attachment.sha256:
        raise DamagedRecordError(f"attachment {attachment.id}: its stored file does not match its SHA-256 "
                                 f"{attachment.sha256}; the database was changed outside the hub")
    return data


def keep_attachment_bytes(session: Session, attachment: Attachment, data: bytes) -> None:
    """Keep `data` as the file's bytes (stored once, however many attachments are this file)."""
    previous = attachment.sha256
    attachment.sha256 = keep_file(session.connection(), data)
    if previous is not None and previous != attachment.sha256:
        _drop_unused(session, [previous])


def forget_attachment_bytes(session: Session, attachment: Attachment) -> None:
    """Remove the file's bytes (retention); its name, type and size stay. The stored file goes too when
    nothing else (another attachment, a message's raw bytes) still refers to it."""
    previous, attachment.sha256 = attachment.sha256, None
    if previous is not None:
        _drop_unused(session, [previous])


def raw_is_kept() -> ColumnElement[bool]:
    """SQL: the message row still has its original bytes."""
    return Message.raw_skeleton.is_not(None)


def raw_size() -> ColumnElement[int]:
    """SQL: how many bytes of original mail the message row keeps itself (0 for none): its skeleton; the
    files cut out of it are stored once, with the attachments."""
    return func.coalesce(func.length(Message.raw_skeleton), 0)


def bytes_are_kept() -> ColumnElement[bool]:
    """SQL: the attachment row still has its bytes."""
    return Attachment.sha256.is_not(None)


def _rebuilt(connection: Connection, message_row_id: int | None, kept: bytes, sha256: str | None,
             cuts: list[Cut]) -> bytes:
    if not cuts and sha256 is None:
        return kept  # kept whole, before the hub kept a SHA-256 of the raw bytes

    def file_of(file_sha256: str) -> bytes:
        data: bytes | None = connection.execute(_FILE_DATA, {"sha256": file_sha256}).scalar()
        if data is None:
            raise DamagedRecordError(f"message {message_row_id}: the stored file {file_sha256} is missing")
        return data

    try:
        raw = splice(kept, sorted(cuts, key=lambda cut: cut.start), file_of)
    except ValueError as error:
        raise DamagedRecordError(f"message {message_row_id}: its raw bytes cannot be put back together: "
                                 f"{error}") from None
    if sha256 is None or hashlib.sha256(raw).hexdigest() != sha256:
        raise DamagedRecordError(f"message {message_row_id}: its raw bytes put back together do not match their "
                                 f"SHA-256 {sha256}; the database was changed outside the hub")
    return raw


def _forget_cuts(session: Session, message: Message) -> list[str]:
    """Delete the message's cut rows; the files they named."""
    hashes = list(session.scalars(select(MessageFileCut.sha256).where(MessageFileCut.message_id == message.id)))
    message.file_cuts = []
    session.flush()
    return hashes


def _drop_unused(session: Session, hashes: Sequence[str]) -> None:
    """Drop each of these stored files that nothing refers to any more. A writer that refers to one at this
    moment holds it (keep_file), or its reference makes the delete fail: the file then stays."""
    session.flush()
    for sha256 in sorted(set(hashes)):
        try:
            with session.begin_nested():
                session.execute(_DROP_UNUSED, {"sha256": sha256})
        except IntegrityError:
            continue
