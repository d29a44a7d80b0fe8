"""attachments_inline: whether a file is a picture its message's HTML shows inside it (a signature's logo, a
pasted picture) rather than a file sent beside the text; the files filed before are counted as beside it

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A column with a constant default: SQLite adds it in place, without copying the table.
    op.add_column('attachments', sa.Column('inline', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('attachments') as batch:
        batch.drop_column('inline')
