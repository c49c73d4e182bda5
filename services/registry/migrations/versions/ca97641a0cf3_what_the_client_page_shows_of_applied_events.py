"""what the client page shows of applied events: a complaint's id and deadline, a comment

Revision ID: ca97641a0cf3
Revises: e84dd7cb5d01
Create Date: 2026-12-08 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'ca97641a0cf3'
down_revision = 'e84dd7cb5d01'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows applied before this revision keep NULL: the client page shows no deadline for them
    # (until a later event of the complaint carries one) and links to the complaint queue.
    with op.batch_alter_table('client_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('complaint_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('resolve_by', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('comment', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('client_event', schema=None) as batch_op:
        batch_op.drop_column('comment')
        batch_op.drop_column('resolve_by')
        batch_op.drop_column('complaint_id')
