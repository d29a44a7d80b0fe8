"""letters and delivery: rendered outbox rows, leases, automatic mail, agency control numbers

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('references', sa.Text(), nullable=True))
        batch.add_column(sa.Column('automatic', sa.String(length=16), nullable=False, server_default=''))
        batch.add_column(sa.Column('actor', sa.String(length=320), nullable=False, server_default='hub'))
        batch.add_column(sa.Column('subject', sa.Text(), nullable=True))
        batch.add_column(sa.Column('body', sa.Text(), nullable=True))
        batch.add_column(sa.Column('lease_owner', sa.String(length=64), nullable=True))
        batch.create_index('ix_outbox_recipient_sent', ['recipient', 'sent_at'], unique=False)
    with op.batch_alter_table('cases') as batch:
        batch.add_column(sa.Column('agency_control', sa.String(length=64), nullable=True))
        batch.create_index(batch.f('ix_cases_agency_control'), ['agency_control'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cases') as batch:
        batch.drop_index(batch.f('ix_cases_agency_control'))
        batch.drop_column('agency_control')
    with op.batch_alter_table('outbox') as batch:
        batch.drop_index('ix_outbox_recipient_sent')
        for column in ('lease_owner', 'body', 'subject', 'actor', 'automatic', 'references'):
            batch.drop_column(column)
