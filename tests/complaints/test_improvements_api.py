"""Improvement actions over HTTP: the workflow and its refusals, corrections, versions,
idempotency, roles, events (validated against their schemas, sequences in order)."""
from __future__ import annotations

import pytest

from shared import events as catalogue
from tests.complaints.complaints_helpers import outbox_events

BODY = {"title": "Carrier SLA renegotiation", "root_cause": "Late  delivery",
        "description": "Penalty clause for late deliveries.", "category": "delivery",
        "owner": "Zhang Min", "due_on": "2025-04-30"}


def create(api, role="staff", **overrides):
    return api.client.post("/api/v1/improvements", json={**BODY, **overrides},
                           headers=api.headers(role))


def created(api, **overrides):
    response = create(api, **overrides)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def act(api, improvement_id, action, role="staff", **extra):
    return api.client.post(f"/api/v1/improvements/{improvement_id}/actions",
                           json={"action": action, **extra}, headers=api.headers(role))


def acted(api, improvement_id, action, **extra):
    response = act(api, improvement_id, action, **extra)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


PATHS = {"planned": (), "in_progress": ("start",), "done": ("start", "complete"),
         "effective": ("start", "complete", "judge_effective"),
         "ineffective": ("start", "complete", "judge_ineffective"),
         "cancelled": ("cancel",)}
ALLOWED = {"planned": ["start", "cancel"], "in_progress": ["complete", "cancel"],
           "done": ["judge_effective", "judge_ineffective"], "effective": [],
           "ineffective": [], "cancelled": []}
ACTIONS = ("start", "complete", "judge_effective", "judge_ineffective", "cancel")
TARGET = {"start": "in_progress", "complete": "done", "judge_effective": "effective",
          "judge_ineffective": "ineffective", "cancel": "cancelled"}


def in_status(api, status):
    improvement = created(api)
    for action in PATHS[status]:
        api.clock.advance(hours=1)
        improvement = acted(api, improvement["id"], action)
    assert improvement["status"] == status
    return improvement


def test_create_reads_back_with_location_etag_and_timeline(api):
    response = create(api)
    body = response.get_json()
    assert response.status_code == 201
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"].endswith(f"/api/v1/improvements/{body['id']}")
    assert body["status"] == "planned" and body["version"] == 1
    assert body["root_cause"] == "Late delivery"  # whitespace collapsed
    assert body["due_on"] == "2025-04-30" and body["effect"] is None
    assert body["allowed_actions"] == ["start", "cancel"]
    assert [(e["action"], e["from_status"], e["to_status"]) for e in body["timeline"]] == [
        ("create", None, "planned")]
    read = api.client.get(f"/api/v1/improvements/{body['id']}", headers=api.headers("analyst"))
    assert read.status_code == 200 and read.get_json()["title"] == BODY["title"]


@pytest.mark.parametrize("status", list(PATHS))
@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_from_every_status(api, status, action):
    improvement = in_status(api, status)
    response = act(api, improvement["id"], action, note="checked")
    body = response.get_json()
    if action in ALLOWED[status]:
        assert response.status_code == 200, body
        assert body["status"] == TARGET[action]
        last = body["timeline"][-1]
        assert (last["action"], last["from_status"], last["to_status"], last["note"]) == (
            action, status, TARGET[action], "checked")
        if action == "start":
            assert body["started_at"] == api.clock.now.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        if action == "complete":
            assert body["done_at"] is not None
    else:
        assert response.status_code == 409, body
        assert response.content_type == "application/problem+json"
        assert body["allowed_actions"] == ALLOWED[status]


def test_unknown_or_missing_action_is_422_and_unknown_improvement_404(api):
    improvement = created(api)
    assert act(api, improvement["id"], "finish").status_code == 422
    response = api.client.post(f"/api/v1/improvements/{improvement['id']}/actions", json={},
                               headers=api.headers())
    assert response.status_code == 422 and "action" in response.get_json()["errors"]
    assert act(api, "7e6d5c4b-3a29-4817-8f6e-5d4c3b2a1908", "start").status_code == 404


def test_invalid_fields_and_unknown_query_parameters_are_422(api):
    response = create(api, title="  ", category="weather", due_on="soon")
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) >= {"title", "category", "due_on"}
    response = api.client.post("/api/v1/improvements", json={"title": "x"},
                               headers=api.headers())
    assert "root_cause" in response.get_json()["errors"]
    assert api.client.get("/api/v1/improvements?colour=red",
                          headers=api.headers()).status_code == 422
    assert api.client.get("/api/v1/improvements?status=nope",
                          headers=api.headers()).status_code == 422


def test_patch_with_if_match_and_refused_once_done(api):
    improvement = created(api)
    path = f"/api/v1/improvements/{improvement['id']}"
    stale = api.client.patch(path, json={"owner": "Li Wei"}, headers=api.headers(**{
        "If-Match": '"7"'}))
    assert stale.status_code == 412
    response = api.client.patch(path, json={"owner": "Li Wei", "root_cause": "Carrier delay"},
                                headers=api.headers(**{"If-Match": '"1"'}))
    body = response.get_json()
    assert response.status_code == 200 and body["version"] == 2
    assert (body["owner"], body["root_cause"]) == ("Li Wei", "Carrier delay")
    assert body["timeline"][-1]["action"] == "correct"
    acted(api, improvement["id"], "start")
    acted(api, improvement["id"], "complete")
    refused = api.client.patch(path, json={"owner": "Wang Fang"}, headers=api.headers())
    assert refused.status_code == 409
    assert refused.get_json()["allowed_actions"] == ["judge_effective", "judge_ineffective"]


def test_stale_if_match_on_an_action_is_412(api):
    improvement = created(api)
    response = api.client.post(f"/api/v1/improvements/{improvement['id']}/actions",
                               json={"action": "start"},
                               headers=api.headers(**{"If-Match": '"2"'}))
    assert response.status_code == 412
    assert api.client.get(f"/api/v1/improvements/{improvement['id']}",
                          headers=api.headers()).get_json()["status"] == "planned"


def test_idempotency_key_on_create(api):
    headers = api.headers(**{"Idempotency-Key": "imp-1"})
    first = api.client.post("/api/v1/improvements", json=BODY, headers=headers)
    again = api.client.post("/api/v1/improvements", json=BODY, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["id"] == again.get_json()["id"]
    other = api.client.post("/api/v1/improvements", json={**BODY, "title": "Other"},
                            headers=headers)
    assert other.status_code == 422
    listed = api.client.get("/api/v1/improvements", headers=api.headers()).get_json()
    assert listed["total"] == 1


def test_analyst_reads_but_may_not_write(api):
    improvement = created(api)
    assert create(api, role="analyst").status_code == 403
    assert act(api, improvement["id"], "start", role="analyst").status_code == 403
    assert api.client.get("/api/v1/improvements",
                          headers=api.headers("analyst")).status_code == 200


def test_list_is_paginated_newest_first_and_filters_by_status(api):
    first = created(api, title="First")
    api.clock.advance(minutes=5)
    second = created(api, title="Second")
    acted(api, first["id"], "start")
    page = api.client.get("/api/v1/improvements?per_page=1", headers=api.headers()).get_json()
    assert (page["page"], page["per_page"], page["total"]) == (1, 1, 2)
    assert [item["id"] for item in page["items"]] == [second["id"]]
    started = api.client.get("/api/v1/improvements?status=in_progress",
                             headers=api.headers()).get_json()
    assert [item["id"] for item in started["items"]] == [first["id"]]
    assert "effect" in started["items"][0] and "timeline" not in started["items"][0]


def test_events_validate_against_their_schemas_in_sequence(api):
    improvement = created(api)
    for action in ("start", "complete", "judge_effective"):
        api.clock.advance(hours=1)
        acted(api, improvement["id"], action)
    published = [e for e in outbox_events(api.ctx) if e["event_type"].startswith("improvement.")]
    assert [(e["event_type"], e["data"]["from_status"], e["data"]["status"])
            for e in published] == [
        ("improvement.created", None, "planned"),
        ("improvement.status_changed", "planned", "in_progress"),
        ("improvement.status_changed", "in_progress", "done"),
        ("improvement.status_changed", "done", "effective")]
    for envelope in published:
        del envelope["event_type"]
        catalogue.validate_envelope(envelope)
        assert envelope["subject"] == improvement["id"]
        assert envelope["data"]["by"] == "staff" or envelope["data"]["by"]
        assert envelope["data"]["root_cause"] == "Late delivery"
    sequences = [envelope["sequence"] for envelope in published]
    assert sequences == sorted(sequences) and len(set(sequences)) == 4
