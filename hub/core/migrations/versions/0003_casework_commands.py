"""casework commands: close reasons and privacy releases

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases') as batch:
        batch.add_column(sa.Column('close_reason', sa.String(length=32), nullable=True))
    op.create_table(
        'releases',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('received_on', sa.Date(), nullable=False),
        sa.Column('signed_on', sa.Date(), nullable=False),
        sa.Column('method', sa.String(length=32), nullable=False),
        sa.Column('scope', sa.JSON(), nullable=False),
        sa.Column('attachment_id', sa.Integer(), nullable=True),
        sa.Column('recorded_by', sa.String(length=320), nullable=False),
        sa.Column('via', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['attachment_id'], ['attachments.id']),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_releases_case_id'), 'releases', ['case_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_releases_case_id'), table_name='releases')
    op.drop_table('releases')
    with op.batch_alter_table('cases') as batch:
        batch.drop_column('close_reason')
