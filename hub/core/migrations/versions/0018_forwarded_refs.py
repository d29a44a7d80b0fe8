"""forwarded_refs: the references other offices gave the cases imported here

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'forwarded_refs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('old_ref', sa.String(length=200), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('origin', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    op.create_index('ix_forwarded_refs_case_id', 'forwarded_refs', ['case_id'])


def downgrade() -> None:
    op.drop_index('ix_forwarded_refs_case_id', table_name='forwarded_refs')
    op.drop_table('forwarded_refs')
