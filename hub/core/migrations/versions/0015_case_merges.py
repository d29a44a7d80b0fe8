"""cases: merged_into_id, the case a merged case was folded into (its reference still threads there)

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ALTER TABLE … ADD COLUMN, not batch's copy on SQLite: a copy of `cases` would lose the search triggers.
    with op.batch_alter_table('cases', recreate='never') as batch:
        batch.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.create_foreign_key('fk_cases_merged_into_id_cases', 'cases', 'cases', ['merged_into_id'], ['id'])


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint('fk_cases_merged_into_id_cases', 'cases', type_='foreignkey')
    with op.batch_alter_table('cases', recreate='never') as batch:
        batch.drop_column('merged_into_id')
