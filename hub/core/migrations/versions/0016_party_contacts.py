"""party_contacts: a constituent's further email addresses and phone numbers

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'party_contacts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('party_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('value', sa.String(length=320), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['party_id'], ['parties.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('party_id', 'value'),
    )
    op.create_index('ix_party_contacts_value', 'party_contacts', ['value'])


def downgrade() -> None:
    op.drop_index('ix_party_contacts_value', table_name='party_contacts')
    op.drop_table('party_contacts')
