"""files stored once: stored_files (each file once, by SHA-256), attachments.sha256 instead of
attachments.data, and each message's raw bytes kept as a skeleton with the base64 of its files cut out
(message_file_cuts says where; messages.raw becomes raw_skeleton, messages.raw_sha256 the raw's hash)

Existing rows are moved in batches: every attachment's bytes into stored_files, then each inbound
message's raw bytes cut against its own files and each sent message's against the files its letter
enclosed (outbox context `enclosures`). The cutting code is a frozen copy of hub.core.file_cuts as it
was when this was written; a migration must not change with the code. Downgrade puts every raw message
and file back whole.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import hashlib
import io
import json
from base64 import b64encode
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None
BATCH = 200

messages = sa.table('messages', sa.column('id', sa.Integer), sa.column('direction', sa.String),
                    sa.column('message_id', sa.String), sa.column('raw', sa.LargeBinary),
                    sa.column('raw_sha256', sa.String))
attachments = sa.table('attachments', sa.column('id', sa.Integer), sa.column('message_id', sa.Integer),
                       sa.column('data', sa.LargeBinary), sa.column('sha256', sa.String))
stored_files = sa.table('stored_files', sa.column('sha256', sa.String), sa.column('size', sa.BigInteger),
                        sa.column('data', sa.LargeBinary))
cuts_table = sa.table('message_file_cuts', sa.column('message_id', sa.Integer), sa.column('position', sa.BigInteger),
                      sa.column('sha256', sa.String), sa.column('line_length', sa.Integer),
                      sa.column('line_ending', sa.String))
outbox = sa.table('outbox', sa.column('message_id', sa.String), sa.column('context', sa.JSON))


def upgrade() -> None:
    op.create_table(
        'stored_files',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('sha256'),
    )
    op.create_table(
        'message_file_cuts',
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.BigInteger(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('line_length', sa.Integer(), nullable=False),
        sa.Column('line_ending', sa.String(length=4), nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id']),
        sa.ForeignKeyConstraint(['sha256'], ['stored_files.sha256']),
        sa.PrimaryKeyConstraint('message_id', 'position'),
    )
    op.create_index('ix_message_file_cuts_sha256', 'message_file_cuts', ['sha256'])
    # Plain ALTER TABLE on both databases: SQLite's batch mode would copy the tables (and drop the search
    # index's triggers on messages with the old copy).
    op.execute("ALTER TABLE attachments ADD COLUMN sha256 VARCHAR(64) REFERENCES stored_files (sha256)")
    op.create_index('ix_attachments_sha256', 'attachments', ['sha256'])
    op.execute("ALTER TABLE messages ADD COLUMN raw_sha256 VARCHAR(64)")
    connection = op.get_bind()
    _store_attachments(connection)
    _cut_messages(connection)
    op.execute("ALTER TABLE attachments DROP COLUMN data")
    op.execute("ALTER TABLE messages RENAME COLUMN raw TO raw_skeleton")


def downgrade() -> None:
    op.execute("ALTER TABLE messages RENAME COLUMN raw_skeleton TO raw")
    op.execute("ALTER TABLE attachments ADD COLUMN data BYTEA" if op.get_bind().dialect.name == 'postgresql'
               else "ALTER TABLE attachments ADD COLUMN data BLOB")
    connection = op.get_bind()
    _whole_messages(connection)
    _whole_attachments(connection)
    op.drop_table('message_file_cuts')
    op.drop_index('ix_attachments_sha256', table_name='attachments')
    if connection.dialect.name == 'postgresql':
        op.execute("ALTER TABLE attachments DROP COLUMN sha256")
    else:  # SQLite drops no column a foreign key is on: the table is copied without it (no triggers on it)
        with op.batch_alter_table('attachments', recreate='always') as batch:
            batch.drop_column('sha256')
    op.execute("ALTER TABLE messages DROP COLUMN raw_sha256")
    op.drop_table('stored_files')


def _blob(connection: sa.Connection, query: sa.Select[Any]) -> bytes:
    value = connection.scalar(query)
    return value if isinstance(value, bytes) else bytes(value)


def _batches(connection: sa.Connection, query: sa.Select[Any]) -> Iterator[Sequence[Any]]:
    """The rows of `query` (its first column an id to order by), BATCH at a time."""
    last = 0
    while rows := connection.execute(query.where(query.selected_columns[0] > last)
                                     .order_by(query.selected_columns[0]).limit(BATCH)).all():
        yield rows
        last = rows[-1][0]


def _store_attachments(connection: sa.Connection) -> None:
    dialect = postgresql if connection.dialect.name == 'postgresql' else sqlite
    insert = dialect.insert(stored_files).on_conflict_do_nothing(index_elements=['sha256'])
    for rows in _batches(connection, sa.select(attachments.c.id).where(attachments.c.data.is_not(None))):
        for (row_id,) in rows:
            data = _blob(connection, sa.select(attachments.c.data).where(attachments.c.id == row_id))
            sha256 = hashlib.sha256(data).hexdigest()
            connection.execute(insert.values(sha256=sha256, size=len(data), data=data))
            connection.execute(sa.update(attachments).where(attachments.c.id == row_id)
                               .values(sha256=sha256, data=None))


def _cut_messages(connection: sa.Connection) -> None:
    own = sa.select(attachments.c.sha256).where(attachments.c.message_id == messages.c.id,
                                                attachments.c.sha256.is_not(None))
    inbound = sa.select(messages.c.id).where(messages.c.direction == 'in', messages.c.raw.is_not(None), own.exists())
    for rows in _batches(connection, inbound):
        for (row_id,) in rows:
            _cut_message(connection, row_id, set(connection.scalars(own.where(messages.c.id == row_id))))
    sent = (sa.select(messages.c.id, outbox.c.context).join(outbox, outbox.c.message_id == messages.c.message_id)
            .where(messages.c.direction == 'out', messages.c.raw.is_not(None)))
    for rows in _batches(connection, sent):
        for row_id, context in rows:
            context = json.loads(context) if isinstance(context, str) else context or {}
            enclosed = [int(each) for each in context.get('enclosures', ()) if str(each).isdigit()]
            if enclosed:
                _cut_message(connection, row_id, set(connection.scalars(
                    sa.select(attachments.c.sha256).where(attachments.c.id.in_(enclosed),
                                                          attachments.c.sha256.is_not(None)))))


def _cut_message(connection: sa.Connection, row_id: int, hashes: set[str]) -> None:
    raw = _blob(connection, sa.select(messages.c.raw).where(messages.c.id == row_id))
    files = {sha256: _blob(connection, sa.select(stored_files.c.data).where(stored_files.c.sha256 == sha256))
             for sha256 in sorted(hashes)}
    kept, cuts = _skeleton(raw, _find_cuts(raw, files))
    if not cuts:
        return
    connection.execute(sa.update(messages).where(messages.c.id == row_id)
                       .values(raw=kept, raw_sha256=hashlib.sha256(raw).hexdigest()))
    connection.execute(sa.insert(cuts_table), [dict(message_id=row_id, position=start, sha256=sha256,
                                                     line_length=line_length, line_ending=ending)
                                                for start, _, sha256, line_length, ending in cuts])


def _whole_messages(connection: sa.Connection) -> None:
    cut = sa.select(messages.c.id).where(sa.select(cuts_table.c.message_id)
                                         .where(cuts_table.c.message_id == messages.c.id).exists())
    for rows in _batches(connection, cut):
        for (row_id,) in rows:
            kept, sha256 = connection.execute(sa.select(messages.c.raw, messages.c.raw_sha256)
                                              .where(messages.c.id == row_id)).one()
            cuts = [tuple(row) for row in connection.execute(
                sa.select(cuts_table.c.position, cuts_table.c.position, cuts_table.c.sha256,
                          cuts_table.c.line_length, cuts_table.c.line_ending)
                .where(cuts_table.c.message_id == row_id).order_by(cuts_table.c.position))]

            def file_of(file_sha256: str) -> bytes:
                return _blob(connection, sa.select(stored_files.c.data).where(stored_files.c.sha256 == file_sha256))

            raw = _splice(kept, cuts, file_of)
            if hashlib.sha256(raw).hexdigest() != sha256:
                raise RuntimeError(f"message {row_id}: its raw bytes put back together do not match their SHA-256")
            connection.execute(sa.update(messages).where(messages.c.id == row_id).values(raw=raw))


def _whole_attachments(connection: sa.Connection) -> None:
    for rows in _batches(connection, sa.select(attachments.c.id, attachments.c.sha256)
                         .where(attachments.c.sha256.is_not(None))):
        for row_id, sha256 in rows:
            data = connection.scalar(sa.select(stored_files.c.data).where(stored_files.c.sha256 == sha256))
            connection.execute(sa.update(attachments).where(attachments.c.id == row_id).values(data=data))


# ---- frozen copy of hub.core.file_cuts (a cut: start, length, sha256, line_length, ending) ----------------

ENDINGS = {"crlf": b"\r\n", "lf": b"\n"}
PREFIX_BYTES = 30
MIN_FILE_BYTES = 256
BLOCK_LINES = 1024
ONE_LINE_BLOCK = 3 * 64 * 1024
COMPARE_BUDGET = 4
Cut = tuple[int, int, str, int, str]


def _region_blocks(data: bytes, line_length: int, ending: str) -> Iterator[bytes]:
    view = memoryview(data)
    per_line = line_length // 4 * 3
    if per_line >= len(data):
        for start in range(0, len(data), ONE_LINE_BLOCK):
            yield b64encode(view[start:start + ONE_LINE_BLOCK])
        return
    separator = ENDINGS[ending]
    step = per_line * BLOCK_LINES
    for start in range(0, len(data), step):
        encoded = b64encode(view[start:start + step])
        lines = [encoded[at:at + line_length] for at in range(0, len(encoded), line_length)]
        if start + step < len(data):
            lines.append(b"")
        yield separator.join(lines)


def _find_cuts(raw: bytes, files: Mapping[str, bytes]) -> list[Cut]:
    budget = [COMPARE_BUDGET * len(raw) + 1024 * 1024]
    found = []
    for sha256, data in files.items():
        if len(data) < MIN_FILE_BYTES:
            continue
        prefix = b64encode(data[:PREFIX_BYTES])
        at = raw.find(prefix)
        while at >= 0 and budget[0] > 0:
            cut = _cut_at(raw, at, sha256, data, budget)
            found += [cut] if cut else []
            at = raw.find(prefix, at + (cut[1] if cut else 1))
    kept: list[Cut] = []
    for cut in sorted(found, key=lambda cut: (cut[0], -cut[1])):
        if not kept or cut[0] >= kept[-1][0] + kept[-1][1]:
            kept.append(cut)
    return kept


def _cut_at(raw: bytes, at: int, sha256: str, data: bytes, budget: list[int]) -> Cut | None:
    encoded_length = (len(data) + 2) // 3 * 4
    end = raw.find(b"\n", at, at + encoded_length + 1)
    crlf = end > at and raw[end - 1] == 13
    width = end - at - crlf
    if end < 0 or width >= encoded_length:
        line_length, ending = encoded_length, "lf"
    elif width % 4:
        return None
    else:
        line_length, ending = width, "crlf" if crlf else "lf"
    position = at
    for block in _region_blocks(data, line_length, ending):
        budget[0] -= len(block)
        if raw[position:position + len(block)] != block:
            return None
        position += len(block)
    return (at, position - at, sha256, line_length, ending)


def _skeleton(raw: bytes, cuts: Sequence[Cut]) -> tuple[bytes, list[Cut]]:
    if not cuts:
        return raw, []
    view, pieces, placed, previous, removed = memoryview(raw), [], [], 0, 0
    for start, length, sha256, line_length, ending in cuts:
        pieces.append(view[previous:start])
        placed.append((start - removed, length, sha256, line_length, ending))
        removed += length
        previous = start + length
    pieces.append(view[previous:])
    return b"".join(pieces), placed


def _splice(skeleton: bytes, cuts: Sequence[Cut], file_of: Callable[[str], bytes]) -> bytes:
    out, view, previous = io.BytesIO(), memoryview(skeleton), 0
    for start, _, sha256, line_length, ending in cuts:
        out.write(view[previous:start])
        for block in _region_blocks(file_of(sha256), line_length, ending):
            out.write(block)
        previous = start
    out.write(view[previous:])
    return out.getvalue()
