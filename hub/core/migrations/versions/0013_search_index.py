"""search_index: the full-text index of messages, notes, constituents' names, addresses and numbers, and
agency control numbers, kept current by triggers (see hub.core.search_index); existing rows are indexed

Revision ID: 0013
Revises: 0012
"""

from alembic import op

from hub.core import search_index

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    search_index.install(op.get_bind())


def downgrade() -> None:
    search_index.uninstall(op.get_bind())
