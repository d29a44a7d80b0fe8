"""outbox_by_case_and_letter: the outbox's index by case becomes one by case, letter and fold, and the index by
fold keeps only the folded notices: a lookup of a case's letters of a kind takes the first even on a new database,
before PostgreSQL has statistics to choose by, instead of scanning every row not folded

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

FOLDED = sa.text("folded_into IS NOT NULL")


def upgrade() -> None:
    op.create_index('ix_outbox_case_letter', 'outbox', ['case_id', 'letter', 'folded_into'])
    op.drop_index('ix_outbox_case_id', table_name='outbox')
    op.drop_index('ix_outbox_folded_into', table_name='outbox')
    op.create_index('ix_outbox_folded_into', 'outbox', ['folded_into'], sqlite_where=FOLDED,
                    postgresql_where=FOLDED)


def downgrade() -> None:
    op.drop_index('ix_outbox_folded_into', table_name='outbox')
    op.create_index('ix_outbox_folded_into', 'outbox', ['folded_into'])
    op.create_index('ix_outbox_case_id', 'outbox', ['case_id'])
    op.drop_index('ix_outbox_case_letter', table_name='outbox')
