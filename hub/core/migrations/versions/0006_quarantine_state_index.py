"""quarantine: an index on state, so `hub status` counts held items without reading their bytes

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('quarantine') as batch:
        batch.create_index('ix_quarantine_state', ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('quarantine') as batch:
        batch.drop_index('ix_quarantine_state')
