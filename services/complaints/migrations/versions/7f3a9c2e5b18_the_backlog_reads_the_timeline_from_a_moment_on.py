"""the backlog reads the timeline from a moment on

Revision ID: 7f3a9c2e5b18
Revises: 4b7e2d9c1a05
Create Date: 2026-12-09 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '7f3a9c2e5b18'
down_revision = '4b7e2d9c1a05'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The report's backlog reads the status each complaint had at a moment from the timeline
    # entries after that moment (none for a backlog as of now): an index range scan instead of
    # a scan of every entry ever recorded.
    with op.batch_alter_table('complaint_timeline', schema=None) as batch_op:
        batch_op.create_index('ix_complaint_timeline_at', ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('complaint_timeline', schema=None) as batch_op:
        batch_op.drop_index('ix_complaint_timeline_at')
