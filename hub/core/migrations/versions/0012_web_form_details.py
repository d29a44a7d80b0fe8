"""parties: postal_address and zip_code, as a web form gives them; releases: message_id, the submission
that is a web form release's evidence

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('parties') as batch:
        batch.add_column(sa.Column('postal_address', sa.Text(), nullable=True))
        batch.add_column(sa.Column('zip_code', sa.String(length=16), nullable=True))
    with op.batch_alter_table('releases') as batch:
        batch.add_column(sa.Column('message_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_releases_message_id_messages', 'messages', ['message_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('releases') as batch:
        batch.drop_constraint('fk_releases_message_id_messages', type_='foreignkey')
        batch.drop_column('message_id')
    # ALTER TABLE … DROP COLUMN (SQLite 3.35 and later): copying the table, batch's way on SQLite, would drop
    # `parties` while cases still refer to it, which SQLite's enforced foreign keys refuse.
    with op.batch_alter_table('parties', recreate='never') as batch:
        batch.drop_column('zip_code')
        batch.drop_column('postal_address')
