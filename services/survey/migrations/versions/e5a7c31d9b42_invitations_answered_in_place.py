"""invitations answered in place: answered_at leaves the results index, room left in each page

Revision ID: e5a7c31d9b42
Revises: c7e2a4b9d3f5
Create Date: 2026-11-30 17:00:00.000000

Answering a link updates its invitation (``answered_at``, ``version``). With ``answered_at`` in
``ix_invitation_survey_created`` every such update wrote a new entry in each of the table's
seven indexes; without it, and with room left in each page (``fillfactor`` 85 on PostgreSQL),
PostgreSQL updates the row in its page and touches no index (a HOT update). Results count the
answered invitations from ``invitation_tally``; only the hours at the edges of a period that
does not start or end at a UTC midnight read the rows, through the index by survey and
creation time. Pages written before the upgrade are full: their invitations are updated as
before until the table is rewritten (``VACUUM FULL invitation`` or ``pg_repack``, optional).
"""
from alembic import op


revision = 'e5a7c31d9b42'
down_revision = 'c7e2a4b9d3f5'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_invitation_survey_created', table_name='invitation')
    op.create_index('ix_invitation_survey_created', 'invitation', ['survey_id', 'created_at'])
    if op.get_context().dialect.name == 'postgresql':
        op.execute("ALTER TABLE invitation SET (fillfactor = 85)")


def downgrade() -> None:
    if op.get_context().dialect.name == 'postgresql':
        op.execute("ALTER TABLE invitation RESET (fillfactor)")
    op.drop_index('ix_invitation_survey_created', table_name='invitation')
    op.create_index('ix_invitation_survey_created', 'invitation',
                    ['survey_id', 'created_at', 'answered_at'])
