"""Staff define surveys: create, list, read, change a draft, publish, close."""
from __future__ import annotations

from sqlalchemy import func, select

from services.survey.adapters.orm import SurveyRecord
from shared.events import validate_data
from tests.survey.survey_support import (HOSTILE, active_survey, create_survey, outbox,
                                         survey_fields)


def count_surveys(ctx) -> int:
    with ctx.database.transaction() as session:
        return session.execute(select(func.count()).select_from(SurveyRecord)).scalar_one()


def test_a_created_survey_is_a_draft_with_its_definition_etag_and_location(http, staff):
    response = http.post("/api/v1/surveys", headers=staff, json=survey_fields())
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "draft" and body["version"] == 1
    assert body["allowed_actions"] == ["edit", "publish"]
    assert body["title"] == {"zh-CN": "客户满意度调查", "en": "Client satisfaction survey"}
    assert [q["type"] for q in body["questions"]] == [
        "nps", "csat", "ces", "rating", "single_choice", "multi_choice", "text"]
    assert body["questions"][0]["weight"] == 2 and body["questions"][1]["weight"] == 1
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"].endswith(f"/api/v1/surveys/{body['id']}")
    assert body["created_by"] == "staff-user"
    assert http.get(f"/api/v1/surveys/{body['id']}", headers=staff).get_json() == body


def test_definition_errors_are_422_naming_every_field_and_create_nothing(http, staff, survey_ctx):
    fields = survey_fields()
    fields["title"] = {"zh-CN": "标题"}
    fields["questions"][3]["scale"] = 11
    fields["questions"][4]["options"] = []
    fields["questions"][5]["key"] = "recommend"
    fields["questions"][0]["requried"] = True
    response = http.post("/api/v1/surveys", headers=staff, json=fields)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    errors = response.get_json()["errors"]
    assert {"title.en", "questions.3.scale", "questions.4.options", "questions.5.key",
            "questions.0.requried"} <= set(errors)
    assert count_surveys(survey_ctx) == 0


def test_unknown_top_level_fields_and_missing_ones_are_422(http, staff):
    response = http.post("/api/v1/surveys", headers=staff, json={"titel": {"en": "x"}})
    assert response.status_code == 422
    assert {"titel", "title", "languages", "questions"} <= set(response.get_json()["errors"])


def test_list_newest_first_filtered_by_status(http, staff):
    draft = create_survey(http, staff)
    active = active_survey(http, staff)
    everything = http.get("/api/v1/surveys", headers=staff).get_json()
    assert everything["total"] == 2 and everything["page"] == 1 and everything["per_page"] == 50
    assert {item["id"] for item in everything["items"]} == {draft["id"], active["id"]}
    drafts = http.get("/api/v1/surveys?status=draft", headers=staff).get_json()
    assert [item["id"] for item in drafts["items"]] == [draft["id"]]
    assert http.get("/api/v1/surveys?status=open", headers=staff).status_code == 422


def test_a_draft_changes_with_patch_and_a_stale_if_match_is_412(http, staff):
    survey = create_survey(http, staff)
    url = f"/api/v1/surveys/{survey['id']}"
    changed = http.patch(url, headers={**staff, "If-Match": '"1"'},
                         json={"title": {"zh-CN": "新标题", "en": "New title"}, "intro": None})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["title"]["en"] == "New title"
    assert changed.get_json()["intro"] is None and changed.get_json()["version"] == 2
    stale = http.patch(url, headers={**staff, "If-Match": '"1"'}, json={"intro": None})
    assert stale.status_code == 412
    bad = http.patch(url, headers=staff, json={"languages": ["en", "fr"]})
    assert bad.status_code == 422 and "languages.1" in bad.get_json()["errors"]
    assert http.get(url, headers=staff).get_json()["version"] == 2


def test_an_active_survey_cannot_be_edited_409_with_allowed_actions(http, staff):
    survey = active_survey(http, staff)
    response = http.patch(f"/api/v1/surveys/{survey['id']}", headers=staff,
                          json={"questions": survey_fields()["questions"][:1]})
    assert response.status_code == 409
    assert response.get_json()["allowed_actions"] == ["invite", "close"]


def test_publish_and_close_publish_events_once(http, staff, survey_ctx):
    survey = create_survey(http, staff)
    url = f"/api/v1/surveys/{survey['id']}"
    assert http.post(f"{url}/close", headers=staff).status_code == 409
    assert http.post(f"{url}/publish", headers={**staff, "If-Match": '"7"'}).status_code == 412
    published = http.post(f"{url}/publish", headers=staff)
    assert published.status_code == 200 and published.get_json()["status"] == "active"
    assert published.get_json()["published_at"].endswith("Z")
    assert http.post(f"{url}/publish", headers=staff).status_code == 409
    closed = http.post(f"{url}/close", headers=staff)
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    assert closed.get_json()["allowed_actions"] == []
    events = outbox(survey_ctx)
    assert [event["type"] for event in events] == ["clientloop.survey.published.v1",
                                                   "clientloop.survey.closed.v1"]
    for event in events:
        assert event["subject"] == survey["id"]
        assert event["data"]["survey_id"] == survey["id"]
        assert event["data"]["title"]["zh-CN"] == "客户满意度调查"
        validate_data(event["type"][len("clientloop."):-len(".v1")], event["data"])


def test_an_idempotency_key_replays_the_created_survey(http, staff, survey_ctx):
    headers = {**staff, "Idempotency-Key": "create-survey-1"}
    first = http.post("/api/v1/surveys", headers=headers, json=survey_fields())
    again = http.post("/api/v1/surveys", headers=headers, json=survey_fields())
    assert first.status_code == again.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"]
    assert count_surveys(survey_ctx) == 1


def test_analysts_read_but_may_not_write(http, staff, analyst):
    survey = create_survey(http, staff)
    assert http.get(f"/api/v1/surveys/{survey['id']}", headers=analyst).status_code == 200
    assert http.post("/api/v1/surveys", headers=analyst, json=survey_fields()).status_code == 403


def test_a_hostile_title_is_stored_as_given_and_returned_as_json_text(http, staff):
    survey = create_survey(http, staff, title={"zh-CN": HOSTILE, "en": HOSTILE})
    assert http.get(f"/api/v1/surveys/{survey['id']}", headers=staff).get_json()["title"]["en"] == HOSTILE
