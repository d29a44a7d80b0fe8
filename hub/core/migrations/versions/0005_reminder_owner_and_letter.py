"""reminders: who set a caseworker's follow-up, and the outbox row a reminder produced

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reminders') as batch:
        batch.add_column(sa.Column('owner', sa.String(length=320), server_default='', nullable=False))
        batch.add_column(sa.Column('outbox_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('reminders') as batch:
        batch.drop_column('outbox_id')
        batch.drop_column('owner')
