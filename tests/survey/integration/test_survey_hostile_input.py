"""Hostile input to every survey door: never a 500, and a refusal changes nothing."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.survey.survey_support import (active_survey, create_survey, invite, learn_client,
                                         survey_fields, token_of)

WEIRD_VALUES = [None, True, 0, -1, 10**30, 1.5e308, "", " ", "x" * 20_000, "🙂" * 300, "\u202e",
                [], {}, [None], {"": ""}, {"__proto__": {}}, ["a"] * 500, {"zh-CN": None},
                {"zh-CN": 5, "en": []}, "<script>alert(1)</script>", "'; DROP TABLE survey; --"]


def snapshot(ctx) -> tuple:
    with ctx.database.transaction() as session:
        return tuple(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                     for table in ("survey", "invitation", "invitation_link", "survey_response",
                                   "outbox"))


def bodies():
    base = survey_fields()
    for field in ("title", "intro", "languages", "questions", "send_after_complaint_resolved"):
        for value in WEIRD_VALUES:
            yield {**base, field: value}
    for index in range(len(base["questions"])):
        for field in ("key", "type", "text", "required", "weight", "scale", "options"):
            for value in WEIRD_VALUES:
                questions = json.loads(json.dumps(base["questions"]))
                questions[index][field] = value
                yield {**base, "questions": questions}


def test_survey_definitions_never_give_a_500(http, staff, survey_ctx):
    draft = create_survey(http, staff)
    before = snapshot(survey_ctx)
    failures = []
    for body in bodies():
        created = http.post("/api/v1/surveys", headers=staff, json=body)
        patched = http.patch(f"/api/v1/surveys/{draft['id']}", headers=staff, json=body)
        for label, response in (("POST", created), ("PATCH", patched)):
            if response.status_code >= 500 or (response.status_code >= 400 and
                                               response.mimetype != "application/problem+json"):
                failures.append(f"{label} {json.dumps(body)[:200]}: {response.status_code}")
        if created.status_code == 201:
            http.post(f"/api/v1/surveys/{created.get_json()['id']}/publish", headers=staff)
    assert not failures, "\n".join(failures[:20])
    assert snapshot(survey_ctx)[3:4] == before[3:4]


@pytest.mark.parametrize("value", WEIRD_VALUES, ids=lambda v: repr(v)[:20])
def test_invitation_and_answer_bodies_never_give_a_500_and_change_nothing(http, staff, survey_ctx, value):
    survey = active_survey(http, staff)
    item = invite(http, staff, survey["id"], learn_client(survey_ctx))
    token = token_of(item["url"])
    before = snapshot(survey_ctx)
    requests = [
        ("post", f"/api/v1/surveys/{survey['id']}/invitations", {"client_id": value}),
        ("post", f"/api/v1/surveys/{survey['id']}/invitations", {"client_ids": value}),
        ("post", f"/api/v1/surveys/{survey['id']}/invitations",
         {"client_id": item["client_id"], "expires_in_days": value}),
        ("post", f"/api/v1/surveys/{survey['id']}/invitations",
         {"client_id": item["client_id"], "language": value}),
        ("post", "/api/v1/public/responses", {"token": value, "answers": {}}),
        ("post", "/api/v1/public/responses", {"token": token, "answers": value}),
        ("post", "/api/v1/public/responses", {"token": token, "answers": {"recommend": value}}),
        ("post", "/api/v1/public/responses", {"token": token, "answers": {"improve": value}}),
        ("post", "/api/v1/public/responses", {"token": token, "answers": {"value": value,
                                                                           "recommend": 5}}),
    ]
    for method, url, body in requests:
        response = getattr(http, method)(url, headers=staff, json=body)
        assert response.status_code < 500, (url, body, response.get_data(as_text=True))
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json"
            assert snapshot(survey_ctx) == before, (url, body)
        else:
            before = snapshot(survey_ctx)
    form = {"_form": "x", "recommend": str(value), "improve": [str(value)] * 3,
            "comment": str(value)}
    page = http.post(f"/s/{token}", data=form)
    assert page.status_code < 500 and page.mimetype == "text/html"


@pytest.mark.parametrize("query", ["from=2026-01-01T00:00", "to=%00", "group_by=%00",
                                   "from=0001-01-01", "to=9999-12-31", "page=0", "per_page=abc",
                                   "format=xlsx", "state=%F0%9F%99%82", "client_id=nope"])
def test_hostile_queries_never_give_a_500(http, staff, survey_ctx, query):
    survey = active_survey(http, staff)
    for path in ("results", "responses", "invitations"):
        response = http.get(f"/api/v1/surveys/{survey['id']}/{path}?{query}", headers=staff)
        assert response.status_code in (200, 422), (path, query, response.get_data(as_text=True))


@pytest.mark.parametrize("token", ["%00", "..%2F..%2F", "A" * 5000, "%F0%9F%99%82" * 20, "' OR 1=1 --"])
def test_hostile_link_tokens_are_404_pages(http, token):
    response = http.get(f"/s/{token}")
    assert response.status_code == 404 and response.mimetype == "text/html"
