"""outbox: whom a notice is about and the digest it was folded into, for the flood caps on notices

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('about', sa.String(length=320), nullable=True))
        batch.add_column(sa.Column('folded_into', sa.Integer(), nullable=True))
        batch.create_index('ix_outbox_about', ['about', 'recipient', 'letter', 'created_at'], unique=False)
        batch.create_index('ix_outbox_folded_into', ['folded_into'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_index('ix_outbox_folded_into')
        batch.drop_index('ix_outbox_about')
        batch.drop_column('folded_into')
        batch.drop_column('about')
