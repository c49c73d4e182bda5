"""``GET /api/v1/surveys/{id}/themes`` and ``GET /api/v1/themes``: stored comments into themes."""
from __future__ import annotations

import uuid

import pytest

from tests.survey.survey_support import (active_survey, client_event, deliver, invite,
                                         learn_client, token_of)

# (language, NPS answer, comment)
ANSWERS = [
    ("zh-CN", 3, "物流太慢了"),
    ("zh-CN", 4, "快递包装破损"),
    ("zh-CN", 2, "发货速度太慢"),
    ("zh-CN", 6, "物流信息不更新"),
    ("zh-CN", 5, "快递员态度差"),
    ("en", 10, "Support answered quickly"),
    ("en", 9, "Support was helpful"),
    ("en", 7, None),
]


def answer(http, staff, survey_id, survey_ctx, language, nps, comment, client_id=None):
    client_id = learn_client(survey_ctx, client_id, language=language)
    item = invite(http, staff, survey_id, client_id)
    answers = {"recommend": nps, "satisfied": 3}
    if comment is not None:
        answers["comment"] = comment
    response = http.post("/api/v1/public/responses",
                         json={"token": token_of(item["url"]), "answers": answers})
    assert response.status_code == 201, response.get_data(as_text=True)
    return client_id


@pytest.fixture
def answered(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    clients = [answer(http, staff, survey["id"], survey_ctx, *row) for row in ANSWERS]
    return survey, clients


def test_themes_of_a_survey_have_the_documented_shape(http, analyst, answered):
    survey, _clients = answered
    response = http.get(f"/api/v1/surveys/{survey['id']}/themes", headers=analyst)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert {"from", "to", "responses_with_text", "items", "detractor_drivers"} <= set(body)
    assert body["responses_with_text"] == 7 and body["from"] is None
    first = body["items"][0]
    assert set(first) == {"theme", "terms", "mentions", "share", "score_mean", "nps", "examples"}
    assert (first["theme"], first["terms"], first["mentions"]) == ("物流", ["发货", "快递", "物流"], 5)
    assert first["share"] == 71.43 and first["nps"] == -100.0
    assert [example["text"] for example in first["examples"]] == [
        "快递员态度差", "物流信息不更新", "发货速度太慢"]
    assert set(first["examples"][0]) == {"response_id", "text", "language", "submitted_at"}
    assert first["examples"][0]["submitted_at"].endswith("Z")
    assert [item["theme"] for item in body["detractor_drivers"]] == ["物流"]
    assert {"page", "per_page", "total"} <= set(body) and body["total"] >= 2


def test_language_filters_the_responses_and_themes_cross_surveys(http, staff, answered):
    survey, _clients = answered
    english = http.get(f"/api/v1/surveys/{survey['id']}/themes?language=en",
                       headers=staff).get_json()
    assert english["responses_with_text"] == 2
    assert [item["theme"] for item in english["items"]][:1] == ["support"]
    other = active_survey(http, staff)
    everywhere = http.get("/api/v1/themes", headers=staff).get_json()
    assert everywhere["survey_id"] is None
    support = next(item for item in everywhere["items"] if item["theme"] == "support")
    assert {example["survey_id"] for example in support["examples"]} == {survey["id"]}
    empty = http.get(f"/api/v1/surveys/{other['id']}/themes?to=2000-01-01",
                     headers=staff).get_json()
    assert empty["responses_with_text"] == 0 and empty["items"] == []
    assert empty["to"] == "2000-01-01"


@pytest.mark.parametrize("query, field", [("colour=red", "colour"), ("language=fr", "language"),
                                          ("from=2026-13-01", "from"), ("per_page=201", "per_page")])
def test_bad_parameters_are_422_problems(http, staff, answered, query, field):
    survey, _clients = answered
    for url in (f"/api/v1/surveys/{survey['id']}/themes?{query}", f"/api/v1/themes?{query}"):
        response = http.get(url, headers=staff)
        assert response.status_code == 422 and response.mimetype == "application/problem+json"
        assert field in response.get_json()["errors"]


def test_an_unknown_survey_is_a_404_problem(http, staff):
    response = http.get(f"/api/v1/surveys/{uuid.uuid4()}/themes", headers=staff)
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_erasure_removes_a_clients_comments_from_the_examples(http, staff, survey_ctx, answered):
    survey, clients = answered
    url = f"/api/v1/surveys/{survey['id']}/themes"
    before = http.get(url, headers=staff).get_json()["items"][0]
    assert "快递员态度差" in [example["text"] for example in before["examples"]]
    erased = clients[4]  # wrote "快递员态度差"
    deliver(survey_ctx, client_event("client.erased", erased, {"client_id": erased}))
    body = http.get(url, headers=staff).get_json()
    logistics = body["items"][0]
    texts = [example["text"] for example in logistics["examples"]]
    assert "快递员态度差" not in texts and texts == ["物流信息不更新", "发货速度太慢", "快递包装破损"]
    assert logistics["mentions"] == 4 and body["responses_with_text"] == 6
    everywhere = http.get("/api/v1/themes", headers=staff).get_json()
    assert all("快递员态度差" != example["text"] for item in everywhere["items"]
               for example in item["examples"])
