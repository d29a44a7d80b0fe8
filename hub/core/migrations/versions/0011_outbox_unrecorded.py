"""outbox: `unrecorded`, set by the sent mark until the sent message is recorded on its case

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('unrecorded', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.create_index('ix_outbox_unrecorded', ['id'], unique=False, sqlite_where=sa.text('unrecorded = 1'),
                           postgresql_where=sa.text('unrecorded'))


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_index('ix_outbox_unrecorded')
        batch.drop_column('unrecorded')
