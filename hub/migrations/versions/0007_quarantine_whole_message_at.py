"""quarantine: whole_message_at, where a message over the size limit was left when only its header is held

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('quarantine') as batch:
        batch.add_column(sa.Column('whole_message_at', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('quarantine') as batch:
        batch.drop_column('whole_message_at')
