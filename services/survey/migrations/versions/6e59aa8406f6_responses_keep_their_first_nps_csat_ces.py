"""responses keep their first NPS, CSAT and CES answers in columns; indexes that hold what results count

Revision ID: 6e59aa8406f6
Revises: 012e56317b37
Create Date: 2026-12-08 09:00:00.000000

Existing responses are filled in from their stored answers by the same domain code that fills
them at submit time (``scoring.first_answers``, as the feedback event reads them), a thousand
rows at a time.
"""
from alembic import op
import sqlalchemy as sa

from services.survey.domain.definition import validate_survey_definition
from services.survey.domain.scoring import first_answers


revision = '6e59aa8406f6'
down_revision = '012e56317b37'
branch_labels = None
depends_on = None

BATCH = 1000
COLUMNS = ('nps', 'csat', 'ces')


def upgrade() -> None:
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.SmallInteger(), nullable=True))
    _backfill(op.get_bind())
    # Built after the backfill, which then does not update them row by row.
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.create_index('ix_survey_response_results',
                              ['survey_id', 'submitted_at', 'score', *COLUMNS], unique=False)
        # In the order responses are listed and exported: time, then id.
        batch_op.drop_index('ix_survey_response_survey_submitted')
        batch_op.create_index('ix_survey_response_survey_submitted',
                              ['survey_id', 'submitted_at', 'id'], unique=False)
    with op.batch_alter_table('invitation', schema=None) as batch_op:
        batch_op.create_index('ix_invitation_survey_created',
                              ['survey_id', 'created_at', 'answered_at'], unique=False)


def _backfill(connection) -> None:
    survey = sa.table('survey', sa.column('id', sa.String), sa.column('definition', sa.JSON))
    response = sa.table('survey_response', sa.column('id', sa.String),
                        sa.column('survey_id', sa.String), sa.column('answers', sa.JSON),
                        *(sa.column(name, sa.SmallInteger) for name in COLUMNS))
    definitions = {survey_id: validate_survey_definition(stored) for survey_id, stored
                   in connection.execute(sa.select(survey.c.id, survey.c.definition))}
    change = sa.update(response).where(response.c.id == sa.bindparam('b_id')) \
        .values(**{name: sa.bindparam(name) for name in COLUMNS})
    last = ''
    while True:
        rows = connection.execute(
            sa.select(response.c.id, response.c.survey_id, response.c.answers)
            .where(response.c.id > last).order_by(response.c.id).limit(BATCH)).all()
        if not rows:
            return
        changes = []
        for response_id, survey_id, answers in rows:
            found = first_answers(definitions[survey_id], answers or {}).as_dict()
            if any(value is not None for value in found.values()):
                changes.append({'b_id': response_id, **found})
        if changes:
            connection.execute(change, changes)
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table('invitation', schema=None) as batch_op:
        batch_op.drop_index('ix_invitation_survey_created')
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_response_survey_submitted')
        batch_op.create_index('ix_survey_response_survey_submitted',
                              ['survey_id', 'submitted_at'], unique=False)
        batch_op.drop_index('ix_survey_response_results')
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
