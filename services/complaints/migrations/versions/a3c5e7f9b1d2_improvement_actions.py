"""improvement actions and their timeline

Revision ID: a3c5e7f9b1d2
Revises: 7f3a9c2e5b18
Create Date: 2026-11-29 10:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'a3c5e7f9b1d2'
down_revision = '7f3a9c2e5b18'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('improvement',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('root_cause', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('category', sa.String(length=20), nullable=True),
    sa.Column('owner', sa.String(length=200), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_improvement'))
    )
    with op.batch_alter_table('improvement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_improvement_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_improvement_created_at'), ['created_at'],
                              unique=False)
    op.create_table('improvement_timeline',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('improvement_id', sa.String(length=36), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('by', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['improvement_id'], ['improvement.id'],
                            name=op.f('fk_improvement_timeline_improvement_id_improvement'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_improvement_timeline'))
    )
    with op.batch_alter_table('improvement_timeline', schema=None) as batch_op:
        batch_op.create_index('ix_improvement_timeline_improvement_id_id',
                              ['improvement_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('improvement_timeline', schema=None) as batch_op:
        batch_op.drop_index('ix_improvement_timeline_improvement_id_id')
    op.drop_table('improvement_timeline')
    with op.batch_alter_table('improvement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_improvement_created_at'))
        batch_op.drop_index(batch_op.f('ix_improvement_status'))
    op.drop_table('improvement')
