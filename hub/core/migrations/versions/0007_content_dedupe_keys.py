"""messages: inbound mail keyed by its content, not its Message-ID (hub.core.email_key)

Older keys were `mid:<Message-ID>`, or `sha256:<hash of the raw bytes>` without one; each inbound mail
keeps its raw bytes, so its new key is computed from them. Two stored messages whose content turns out
to be the same keep both rows (the later one's key gets its row id), since both are already on cases.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from hub.core.email_key import PREFIX, content_key

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None
BATCH = 500
messages = sa.table('messages', sa.column('id', sa.Integer), sa.column('channel', sa.String),
                    sa.column('direction', sa.String), sa.column('dedupe_key', sa.String),
                    sa.column('raw', sa.LargeBinary))


def upgrade() -> None:
    connection = op.get_bind()
    taken = set(connection.scalars(sa.select(messages.c.dedupe_key)
                                   .where(messages.c.dedupe_key.like(f"{PREFIX}%"))))
    last = 0
    while True:
        rows = connection.execute(
            sa.select(messages.c.id, messages.c.raw)
            .where(messages.c.id > last, messages.c.channel == 'email', messages.c.direction == 'in',
                   messages.c.dedupe_key.not_like(f"{PREFIX}%"))
            .order_by(messages.c.id).limit(BATCH)).all()
        if not rows:
            return
        for row_id, raw in rows:
            key = content_key(raw or b"")
            if key in taken:
                key = f"{key}#{row_id}"
            taken.add(key)
            connection.execute(sa.update(messages).where(messages.c.id == row_id).values(dedupe_key=key))
        last = rows[-1].id


def downgrade() -> None:
    """The old keys are not kept; content keys work as well under the older code's duplicate check."""
