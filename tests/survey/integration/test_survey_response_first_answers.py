"""A response keeps its answers to the survey's first NPS, CSAT and CES questions in columns —
the very values its feedback event carries — whether it was stored by a submit or by the
migration that filled in the responses stored before the columns existed."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import command
from sqlalchemy import select

from services.survey.adapters.orm import ResponseRecord
from shared.db import make_engine
from shared.migrations import alembic_config, upgrade
from tests.survey.survey_support import (active_survey, invite, learn_client, outbox,
                                         survey_fields, token_of)

#: The last revision before the columns; the migration after it adds and fills them.
BEFORE_COLUMNS = "012e56317b37"
# The first NPS and CSAT questions come after a second question of another type; a later
# question of the same type must never be the one kept.
QUESTIONS = [
    {"key": "quality", "type": "rating", "scale": 5, "text": {"en": "Quality?"}},
    {"key": "recommend", "type": "nps", "text": {"en": "Recommend us?"}},
    {"key": "satisfied", "type": "csat", "text": {"en": "Satisfied?"}},
    {"key": "recommend_team", "type": "nps", "text": {"en": "Recommend the team?"}},
    {"key": "satisfied_again", "type": "csat", "text": {"en": "Satisfied now?"}},
    {"key": "effort", "type": "ces", "text": {"en": "Easy?"}},
    {"key": "comment", "type": "text", "text": {"en": "Anything else?"}},
]
NO_CES = [question for question in QUESTIONS if question["type"] != "ces"]
# (questions, answers, the first NPS, CSAT and CES answers written out by hand)
CASES = [
    (QUESTIONS, {"quality": 2, "recommend": 7, "satisfied": 2, "recommend_team": 10,
                 "satisfied_again": 5, "effort": 3, "comment": "x"}, (7, 2, 3)),
    (QUESTIONS, {"recommend_team": 0, "satisfied_again": 1}, (None, None, None)),
    (QUESTIONS, {"recommend": 0, "effort": 7}, (0, None, 7)),
    (NO_CES, {"recommend": 10, "satisfied": 5, "satisfied_again": 1}, (10, 5, None)),
    (QUESTIONS, {"quality": 5, "comment": "only words"}, (None, None, None)),
]


def fields(questions):
    return survey_fields(languages=["en"], title={"en": "Survey"}, intro={"en": "Intro"},
                         questions=questions)


def test_a_submitted_response_keeps_the_answers_its_feedback_event_carries(http, staff,
                                                                           survey_ctx):
    surveys = {id(questions): active_survey(http, staff, **fields(questions))["id"]
               for questions in (QUESTIONS, NO_CES)}
    stored_ids = []
    for questions, answers, _expected in CASES:
        url = invite(http, staff, surveys[id(questions)], learn_client(survey_ctx))["url"]
        answer = http.post("/api/v1/public/responses",
                           json={"token": token_of(url), "answers": answers})
        assert answer.status_code == 201, answer.get_data(as_text=True)
        stored_ids.append(answer.get_json()["id"])
    events = {event["data"]["response_id"]: event["data"]
              for event in outbox(survey_ctx, "survey.response.submitted")}
    with survey_ctx.database.transaction() as session:
        rows = {row.id: row for row in session.execute(select(ResponseRecord)).scalars()}
    for response_id, (_questions, answers, expected) in zip(stored_ids, CASES):
        row, event = rows[response_id], events[response_id]
        assert (row.nps, row.csat, row.ces) == expected, answers
        assert (event["nps"], event["csat"], event["ces"]) == expected, answers


def test_the_migration_fills_in_responses_stored_before_the_columns(survey_settings):
    url = survey_settings.database_url("survey")
    upgrade("survey", url, BEFORE_COLUMNS)
    survey = sa.table("survey", *(sa.column(name) for name in (
        "id", "status", "send_after_complaint_resolved", "version", "created_at", "updated_at")),
        sa.column("definition", sa.JSON))
    invitation = sa.table("invitation", *(sa.column(name) for name in (
        "id", "survey_id", "client_id", "language", "created_at", "expires_at", "created_by",
        "link_base", "delivery", "delivery_status", "delivery_attempts", "version")))
    response = sa.table("survey_response", *(sa.column(name) for name in (
        "id", "survey_id", "invitation_id", "client_id", "language", "scoring_version",
        "submitted_at")), sa.column("answers", sa.JSON))
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    survey_ids = {id(questions): str(uuid.uuid4()) for questions in (QUESTIONS, NO_CES)}
    # More responses than the migration updates at a time, so that it goes on past a batch.
    cases = [(case, str(uuid.uuid4())) for case in CASES * 250]
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(survey), [dict(
                id=survey_ids[id(questions)], status="active", definition=fields(questions),
                send_after_complaint_resolved=False, version=1, created_at=now, updated_at=now)
                for questions in (QUESTIONS, NO_CES)])
            connection.execute(sa.insert(invitation), [dict(
                id=invitation_id, survey_id=survey_ids[id(questions)], client_id="c",
                language="en", created_at=now, expires_at=now + timedelta(days=9),
                created_by="t", link_base="http://x", delivery="none",
                delivery_status="not_requested", delivery_attempts=0, version=1)
                for (questions, _answers, _expected), invitation_id in cases])
            connection.execute(sa.insert(response), [dict(
                id=str(uuid.uuid4()), survey_id=survey_ids[id(questions)],
                invitation_id=invitation_id, client_id="c", language="en", answers=answers,
                scoring_version="old", submitted_at=now)
                for (questions, answers, _expected), invitation_id in cases])
    finally:
        engine.dispose()

    upgrade("survey", url)

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            kept = {row.invitation_id: (row.nps, row.csat, row.ces) for row in connection.execute(
                select(ResponseRecord.invitation_id, ResponseRecord.nps, ResponseRecord.csat,
                       ResponseRecord.ces))}
    finally:
        engine.dispose()
    assert len(kept) == len(cases)
    for (questions, answers, expected), invitation_id in cases:
        assert kept[invitation_id] == expected, answers
    # And down again: the columns go, the rows stay.
    command.downgrade(alembic_config("survey", url), BEFORE_COLUMNS)
    engine = make_engine(url)
    try:
        columns = {column["name"] for column in sa.inspect(engine).get_columns("survey_response")}
        with engine.connect() as connection:
            count = connection.execute(sa.text("SELECT count(*) FROM survey_response")).scalar()
    finally:
        engine.dispose()
    assert not {"nps", "csat", "ces"} & columns and count == len(cases)
