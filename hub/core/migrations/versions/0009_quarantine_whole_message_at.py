"""quarantine: whole_message_at, where a message over the size limit was left when only its header is held

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('quarantine') as batch:
        batch.add_column(sa.Column('whole_message_at', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('quarantine') as batch:
        batch.drop_column('whole_message_at')
