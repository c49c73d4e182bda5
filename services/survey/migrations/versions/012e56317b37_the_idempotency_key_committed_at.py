"""the idempotency key's committed_at

Revision ID: 012e56317b37
Revises: 842f8017eb4d
Create Date: 2026-12-01 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '012e56317b37'
down_revision = '842f8017eb4d'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # When the write of the request that reserved the key committed (in that same transaction).
    with op.batch_alter_table('idempotency_key', schema=None) as batch_op:
        batch_op.add_column(sa.Column('committed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('idempotency_key', schema=None) as batch_op:
        batch_op.drop_column('committed_at')
