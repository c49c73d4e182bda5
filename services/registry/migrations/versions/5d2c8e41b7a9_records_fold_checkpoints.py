"""records fold checkpoints: a new event folds on from the client's last state

Revision ID: 5d2c8e41b7a9
Revises: ca97641a0cf3
Create Date: 2026-12-10 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '5d2c8e41b7a9'
down_revision = 'ca97641a0cf3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('records_checkpoint',
    sa.Column('client_id', sa.String(length=36), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('ledger_size', sa.Integer(), nullable=False),
    sa.Column('history_size', sa.Integer(), nullable=False),
    sa.Column('satisfaction', sa.String(length=64), nullable=True),
    sa.Column('annual_amount', sa.Numeric(precision=15, scale=2), nullable=True),
    sa.Column('annual_currency', sa.String(length=3), nullable=True),
    sa.Column('open_low', sa.Integer(), nullable=False),
    sa.Column('open_medium', sa.Integer(), nullable=False),
    sa.Column('open_high', sa.Integer(), nullable=False),
    sa.Column('open_critical', sa.Integer(), nullable=False),
    sa.Column('opened', sa.JSON(), nullable=False),
    sa.Column('last_tier', sa.String(length=1), nullable=True),
    sa.Column('last_health_score', sa.Numeric(precision=5, scale=1), nullable=True),
    sa.Column('last_health_band', sa.String(length=10), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], name=op.f('fk_records_checkpoint_client_id_client'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('client_id', 'points', name=op.f('pk_records_checkpoint'))
    )
    # Existing clients get no checkpoint: checkpoints_at stays null, so the first event (or
    # staff edit, or periodic job) that folds a client's records folds them from the start
    # once and stores its checkpoints; every fold after that starts from one.
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checkpoints_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.drop_column('checkpoints_at')
    op.drop_table('records_checkpoint')
