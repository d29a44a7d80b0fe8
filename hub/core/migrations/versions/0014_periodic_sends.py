"""periodic_sends: mail the hub sends by itself once a period (the weekly report, the weekday triage list,
the Monday caseworker digest), recorded once per job, period and recipient; the weekly reports already
queued are recorded, so that the week of the upgrade does not send its report again

Revision ID: 0014
Revises: 0013
"""

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'periodic_sends',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('job', sa.String(length=64), nullable=False),
        sa.Column('period', sa.String(length=32), nullable=False),
        sa.Column('recipient', sa.String(length=320), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('job', 'period', 'recipient'),
    )
    connection = op.get_bind()
    weeks = set()
    for (context,) in connection.execute(sa.text(
            "SELECT context FROM outbox WHERE letter = 'weekly-report' AND case_id IS NULL")):
        values = json.loads(context) if isinstance(context, str) else (context or {})
        if values.get('week'):
            weeks.add(str(values['week']))
    now = datetime.now(UTC)
    for week in sorted(weeks):
        # Typed, so that SQLAlchemy writes the time as the models do (not sqlite3's adapter, deprecated in 3.12).
        insert = sa.text("INSERT INTO periodic_sends (job, period, recipient, at) "
                         "VALUES ('weekly-report', :week, 'supervisors', :at)").bindparams(
            sa.bindparam("at", type_=sa.DateTime(timezone=True)))
        connection.execute(insert, {"week": week, "at": now})


def downgrade() -> None:
    op.drop_table('periodic_sends')
