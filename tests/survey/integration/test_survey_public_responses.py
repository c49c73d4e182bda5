"""``POST /api/v1/public/responses``: the JSON door, scored, exactly once, rate limited."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from services.survey.adapters.orm import ResponseRecord
from services.survey.app import build_context, create_app
from services.survey.domain.scoring import SCORING_VERSION
from shared.events import validate_data
from tests.conftest import need_server
from tests.survey.survey_support import (FULL_ANSWERS, active_survey, invite, learn_client,
                                         outbox, token_of)


@pytest.fixture
def link(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    client_id = learn_client(survey_ctx)
    item = invite(http, staff, survey["id"], client_id)
    return {"survey": survey, "client_id": client_id, "invitation": item,
            "token": token_of(item["url"])}


def submit(http, token, answers, **headers):
    return http.post("/api/v1/public/responses", json={"token": token, "answers": answers},
                     headers=headers)


def responses(ctx) -> int:
    with ctx.database.transaction() as session:
        return session.execute(select(func.count()).select_from(ResponseRecord)).scalar_one()


def test_a_response_is_scored_stored_and_published_as_feedback(http, link, survey_ctx):
    response = submit(http, link["token"], FULL_ANSWERS)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    # weighted mean: nps 90 ×2, csat 75, ces 83.33…, rating 75, value 100 → 513.33…/6
    assert body["score"] == 85.56
    assert body["survey_id"] == link["survey"]["id"] and body["submitted_at"].endswith("Z")
    [event] = outbox(survey_ctx, "survey.response.submitted")
    assert event["subject"] == link["client_id"]
    data = event["data"]
    validate_data("survey.response.submitted", data)
    assert data == {"response_id": body["id"], "survey_id": link["survey"]["id"],
                    "invitation_id": link["invitation"]["id"], "client_id": link["client_id"],
                    "submitted_at": body["submitted_at"], "score": 85.56,
                    "scoring_version": SCORING_VERSION, "nps": 9, "nps_category": "promoter",
                    "csat": 4, "ces": 6, "comment": "很好 good"}
    with survey_ctx.database.transaction() as session:
        stored = session.execute(select(ResponseRecord)).scalar_one()
    assert stored.scoring_version == SCORING_VERSION and stored.answers["improve"] == [
        "speed", "communication"]


def test_skipped_questions_are_null_in_the_event(http, link, survey_ctx):
    response = submit(http, link["token"], {"recommend": 3, "satisfied": 2, "comment": "  "})
    assert response.status_code == 201
    data = outbox(survey_ctx, "survey.response.submitted")[0]["data"]
    validate_data("survey.response.submitted", data)
    assert (data["nps_category"], data["ces"], data["comment"]) == ("detractor", None, None)


def test_a_second_submit_is_410_answered_and_stores_nothing(http, link, survey_ctx):
    assert submit(http, link["token"], FULL_ANSWERS).status_code == 201
    again = submit(http, link["token"], FULL_ANSWERS)
    assert again.status_code == 410
    assert again.get_json()["reason"] == "answered"
    assert responses(survey_ctx) == 1
    assert len(outbox(survey_ctx, "survey.response.submitted")) == 1


def test_the_database_refuses_a_second_response_for_an_invitation(http, link, survey_ctx):
    assert submit(http, link["token"], FULL_ANSWERS).status_code == 201
    with survey_ctx.database.transaction() as session:
        first = session.execute(select(ResponseRecord)).scalar_one()
        copy = {column.name: getattr(first, column.name) for column in ResponseRecord.__table__.columns}
    copy["id"] = str(uuid.uuid4())
    with pytest.raises(IntegrityError):
        with survey_ctx.database.transaction() as session:
            session.add(ResponseRecord(**copy))


def test_answer_errors_are_422_by_dotted_path_and_store_nothing(http, link, survey_ctx):
    response = submit(http, link["token"], {"recommend": 11, "effort": "7", "value": "best",
                                            "improve": ["speed", "speed"], "surprise": 1})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert set(errors) == {"answers.recommend", "answers.satisfied", "answers.effort",
                           "answers.value", "answers.improve", "answers.surprise"}
    assert responses(survey_ctx) == 0
    assert submit(http, link["token"], FULL_ANSWERS).status_code == 201


@pytest.mark.parametrize("body, field", [({}, "token"), ({"token": "x"}, "answers"),
                                         ({"token": 5, "answers": {}}, "token"),
                                         ({"token": "x", "answers": [1]}, None)])
def test_malformed_bodies_are_4xx_problems(http, body, field):
    response = http.post("/api/v1/public/responses", json=body)
    assert response.status_code in (404, 422)
    assert response.mimetype == "application/problem+json"
    if field:
        assert field in response.get_json()["errors"]


def test_an_unknown_token_is_404_and_says_nothing_more(http, link):
    for token in ("A" * 43, "short", "../../etc/passwd", "x" * 500):
        response = submit(http, token, FULL_ANSWERS)
        assert response.status_code in (404, 422)
        assert link["client_id"] not in response.get_data(as_text=True)


def test_revoked_expired_and_closed_links_are_410_with_their_reason(http, staff, survey_ctx, clock):
    survey = active_survey(http, staff)
    revoked = invite(http, staff, survey["id"], learn_client(survey_ctx))
    http.post(f"/api/v1/invitations/{revoked['id']}/revoke", headers=staff)
    assert submit(http, token_of(revoked["url"]), FULL_ANSWERS).get_json()["reason"] == "revoked"
    closing = active_survey(http, staff)
    closed = invite(http, staff, closing["id"], learn_client(survey_ctx))
    http.post(f"/api/v1/surveys/{closing['id']}/close", headers=staff)
    assert submit(http, token_of(closed["url"]), FULL_ANSWERS).get_json()["reason"] == "closed"
    expiring = invite(http, staff, survey["id"], learn_client(survey_ctx), expires_in_days=1)
    clock.advance(days=1, seconds=1)
    gone = submit(http, token_of(expiring["url"]), FULL_ANSWERS)
    assert gone.status_code == 410 and gone.get_json()["reason"] == "expired"


def test_public_endpoints_are_rate_limited_per_address_with_retry_after(settings, clock):
    limited = settings.with_overrides(ratelimit_public="3 per minute")
    from shared.migrations import upgrade
    upgrade("survey", limited.database_url("survey"))
    ctx = build_context(limited, clock=clock)
    http = create_app(context=ctx).test_client()
    me = {"REMOTE_ADDR": "203.0.113.7"}
    try:
        statuses = [http.post("/api/v1/public/responses", json={"token": "A" * 43, "answers": {}},
                              environ_base=me).status_code for _ in range(3)]
        assert statuses == [404, 404, 404]
        limited_json = http.post("/api/v1/public/responses", json={"token": "A" * 43, "answers": {}},
                                 environ_base=me)
        assert limited_json.status_code == 429
        assert limited_json.mimetype == "application/problem+json"
        assert 1 <= int(limited_json.headers["Retry-After"]) <= 61
        page = http.get("/s/" + "A" * 43, environ_base=me)  # the form shares the same budget
        assert page.status_code == 429 and page.mimetype == "text/html"
        assert "Retry-After" in page.headers
        other = http.get("/s/" + "A" * 43, environ_base={"REMOTE_ADDR": "203.0.113.8"})
        assert other.status_code == 404
        assert http.get("/healthz", environ_base=me).status_code == 200
    finally:
        ctx.database.dispose()


def test_limits_are_shared_by_every_worker_through_the_configured_store(settings, clock):
    need_server("Redis", "127.0.0.1", 6379)
    shared_store = settings.with_overrides(ratelimit_public="2 per minute",
                                           ratelimit_storage_url="redis://127.0.0.1:6379/0")
    from shared.migrations import upgrade
    upgrade("survey", shared_store.database_url("survey"))
    address = {"REMOTE_ADDR": f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"}
    contexts = [build_context(shared_store, clock=clock) for _ in range(2)]
    workers = [create_app(context=ctx).test_client() for ctx in contexts]
    try:
        url = f"/s/{uuid.uuid4().hex}{uuid.uuid4().hex}"
        assert workers[0].get(url, environ_base=address).status_code == 404
        assert workers[1].get(url, environ_base=address).status_code == 404
        assert workers[0].get(url, environ_base=address).status_code == 429
        assert workers[1].get(url, environ_base=address).status_code == 429
    finally:
        for ctx in contexts:
            ctx.database.dispose()


def test_an_unreachable_limit_store_falls_back_to_counting_in_the_process(settings, clock):
    from tests.e2e.harness import free_port
    unreachable = settings.with_overrides(ratelimit_public="2 per minute",
                                          ratelimit_storage_url=f"redis://127.0.0.1:{free_port()}/0")
    from shared.migrations import upgrade
    upgrade("survey", unreachable.database_url("survey"))
    ctx = build_context(unreachable, clock=clock)
    http = create_app(context=ctx).test_client()
    try:
        statuses = [http.get("/s/" + "C" * 43).status_code for _ in range(4)]
        assert statuses == [404, 404, 429, 429]
    finally:
        ctx.database.dispose()
