"""case_people: the other people on a case (a spouse, a representative), whose mail joins it

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'case_people',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=True),
        sa.Column('phone', sa.String(length=32), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('case_id', 'name'),
    )
    op.create_index('ix_case_people_case_id', 'case_people', ['case_id'])
    op.create_index('ix_case_people_email', 'case_people', ['email'])
    op.create_index('ix_case_people_phone', 'case_people', ['phone'])


def downgrade() -> None:
    for column in ('phone', 'email', 'case_id'):
        op.drop_index(f'ix_case_people_{column}', table_name='case_people')
    op.drop_table('case_people')
