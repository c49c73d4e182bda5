"""Intake, reading, listing, triage corrections and notes over HTTP."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from shared.events import validate_data
from tests.complaints.complaints_helpers import (START, client_event, outbox_events,
                                                 register_client)
from tests.conftest import make_token

CONTRACT_FIELDS = {"id", "ref", "client_id", "channel", "category", "severity", "title",
               "description", "remedy_sought", "status", "assignee", "opened_at", "respond_by",
               "resolve_by", "acknowledged_at", "resolved_at", "closed_at", "resolution_code",
               "root_cause", "client_accepted", "overdue", "version"}
TIMELINE_FIELDS = {"at", "by", "action", "from_status", "to_status", "note"}


# -- intake ----------------------------------------------------------------------------------

def test_opening_a_complaint_answers_the_spec_shape(api):
    response = api.open(severity="high", assignee="Li Wei")

    assert response.status_code == 201
    body = response.get_json()
    assert CONTRACT_FIELDS | {"timeline"} <= set(body)
    assert body["ref"] == "CMP-000001"
    assert (body["status"], body["severity"], body["assignee"]) == ("new", "high", "Li Wei")
    assert body["opened_at"] == "2025-03-03T09:00:00.000000Z"
    assert body["respond_by"] == "2025-03-03T13:00:00.000000Z"       # high: 4 h
    assert body["resolve_by"] == "2025-03-06T09:00:00.000000Z"       # high: 72 h
    assert body["overdue"] is False and body["version"] == 1
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"].endswith(f"/api/v1/complaints/{body['id']}")
    [entry] = body["timeline"]
    assert TIMELINE_FIELDS <= set(entry)
    assert (entry["action"], entry["by"], entry["to_status"]) == ("open", "staff-user", "new")


def test_references_are_sequential_and_unique(api):
    refs = [api.opened()["ref"] for _ in range(3)]

    assert refs == ["CMP-000001", "CMP-000002", "CMP-000003"]


def test_a_refused_opening_gives_its_number_back(api):
    api.opened()
    assert api.open(title=" ").status_code == 422

    assert api.opened()["ref"] == "CMP-000002"


def test_tier_a_clients_get_half_the_sla(api, complaints_ctx):
    client_id = register_client(complaints_ctx, tier="A")

    body = api.opened(client_id=client_id, severity="critical")

    assert body["respond_by"] == "2025-03-03T09:30:00.000000Z"
    assert body["resolve_by"] == "2025-03-03T21:00:00.000000Z"
    assert body["client_tier"] == "A"


def test_an_unknown_client_is_422_with_retry_after(api):
    client_id = str(uuid.uuid4())

    response = api.open(client_id=client_id)

    assert response.status_code == 422
    assert response.headers["Retry-After"] == "1"
    assert list(response.get_json()["errors"]) == ["client_id"]
    assert api.list().get_json()["total"] == 0


def test_a_client_known_only_from_a_value_change_is_not_known_yet(api, complaints_ctx):
    client_id = str(uuid.uuid4())
    client_event(complaints_ctx, "client.value.changed", {"client_id": client_id, "tier": "A"},
                 subject=client_id)

    response = api.open(client_id=client_id)

    assert response.status_code == 422
    assert response.headers["Retry-After"] == "1"


def test_an_erased_client_is_422_without_retry(api, complaints_ctx):
    client_id = register_client(complaints_ctx)
    client_event(complaints_ctx, "client.erased", {"client_id": client_id}, subject=client_id)

    response = api.open(client_id=client_id)

    assert response.status_code == 422
    assert "Retry-After" not in response.headers
    assert "erased" in response.get_json()["errors"]["client_id"][0]


def test_an_archived_client_may_still_complain(api, complaints_ctx):
    client_id = register_client(complaints_ctx)
    client_event(complaints_ctx, "client.archived", {"client_id": client_id}, subject=client_id)

    assert api.open(client_id=client_id).status_code == 201


@pytest.mark.parametrize("overrides, field", [
    ({"channel": "fax"}, "channel"),
    ({"category": None}, "category"),
    ({"severity": "urgent"}, "severity"),
    ({"title": "   "}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"client_id": "not-a-uuid"}, "client_id"),
    ({"colour": "red"}, "colour"),
    ({"description": 42}, "description"),
])
def test_invalid_fields_are_422_naming_the_field(api, overrides, field):
    response = api.open(**overrides)

    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]


def test_the_same_idempotency_key_replays_the_first_answer(api, complaints_ctx):
    headers = api.headers(**{"Idempotency-Key": "intake-1"})
    body = api.body()

    first = api.client.post("/api/v1/complaints", json=body, headers=headers)
    second = api.client.post("/api/v1/complaints", json=body, headers=headers)
    other = api.client.post("/api/v1/complaints", json={**body, "title": "Another"},
                            headers=headers)

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.get_json() == first.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert api.list().get_json()["total"] == 1
    assert [e["event_type"] for e in outbox_events(complaints_ctx)] == ["complaint.opened"]


def test_by_is_the_tokens_name(api, complaints_ctx, settings):
    token = make_token(settings, "staff", "Zhang Min")
    response = api.open(headers={"Authorization": f"Bearer {token}"})

    assert response.get_json()["timeline"][0]["by"] == "Zhang Min"
    assert outbox_events(complaints_ctx)[-1]["data"]["by"] == "Zhang Min"


def test_opening_publishes_complaint_opened(api, complaints_ctx):
    body = api.opened(severity="high", category="delivery", channel="phone")

    [event] = outbox_events(complaints_ctx)
    assert event["event_type"] == "complaint.opened"
    assert event["subject"] == body["client_id"]
    assert event["source"] == "clientloop/complaints"
    validate_data("complaint.opened", event["data"])
    assert {key: event["data"][key] for key in ("complaint_id", "ref", "severity", "category",
                                                 "channel", "respond_by", "resolve_by")} == {
        "complaint_id": body["id"], "ref": body["ref"], "severity": "high",
        "category": "delivery", "channel": "phone", "respond_by": "2025-03-03T13:00:00Z",
        "resolve_by": "2025-03-06T09:00:00Z"}


# -- reading and listing -----------------------------------------------------------------------

def test_the_single_read_has_the_timeline_and_an_etag(api):
    complaint = api.opened()
    api.clock.advance(minutes=5)
    api.acted(complaint["id"], "acknowledge")

    response = api.get(complaint["id"], role="analyst")

    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'
    assert [e["action"] for e in response.get_json()["timeline"]] == ["open", "acknowledge"]


def test_lists_filter_and_paginate(api, complaints_ctx):
    other_client = register_client(complaints_ctx, name="Other")
    high = api.opened(severity="high", category="delivery")
    api.opened(severity="low")
    api.opened(client_id=other_client, assignee="Li Wei")
    api.acted(high["id"], "acknowledge")

    def ids(**query):
        response = api.list(**query)
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    assert len(ids()) == 3
    assert ids(severity="high") == [high["id"]]
    assert ids(status="acknowledged") == [high["id"]]
    assert ids(category="delivery") == [high["id"]]
    assert len(ids(client_id=other_client)) == 1
    assert len(ids(assignee="Li Wei")) == 1
    page = api.list(per_page=2, page=2).get_json()
    assert (page["page"], page["per_page"], page["total"], len(page["items"])) == (2, 2, 3, 1)
    assert "timeline" not in page["items"][0]
    assert api.list(per_page=201).status_code == 422
    assert api.list(status="pending").status_code == 422


def test_the_overdue_filter(api, clock):
    late_response = api.opened(severity="critical")          # respond by 10:00
    api.clock.advance(minutes=30)
    on_time = api.opened(severity="low")
    paused = api.in_status("awaiting_client", severity="critical")
    clock.set(START + timedelta(hours=2))

    overdue = api.list(overdue="true").get_json()["items"]
    others = api.list(overdue="false").get_json()["items"]

    assert [item["id"] for item in overdue] == [late_response["id"]]
    assert overdue[0]["overdue"] is True
    assert {item["id"] for item in others} == {on_time["id"], paused["id"]}


# -- triage corrections ------------------------------------------------------------------------

def test_a_severity_correction_recomputes_deadlines_and_publishes_reclassified(api,
                                                                              complaints_ctx):
    complaint = api.opened(severity="low")
    api.clock.advance(hours=1)

    response = api.patch(complaint["id"], {"severity": "critical", "title": "Charged twice"},
                         **{"If-Match": '"1"'})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["severity"], body["title"], body["version"]) == ("critical", "Charged twice", 2)
    assert body["respond_by"] == "2025-03-03T10:00:00.000000Z"
    assert body["resolve_by"] == "2025-03-04T09:00:00.000000Z"
    assert body["timeline"][-1]["action"] == "correct"
    event = outbox_events(complaints_ctx)[-1]
    assert event["event_type"] == "complaint.reclassified"
    validate_data("complaint.reclassified", event["data"])
    assert (event["data"]["previous_severity"], event["data"]["severity"]) == ("low", "critical")


def test_a_correction_that_changes_nothing_keeps_the_version(api, complaints_ctx):
    complaint = api.opened()

    response = api.patch(complaint["id"], {"title": complaint["title"]})

    assert response.status_code == 200
    assert response.get_json()["version"] == 1
    assert len(outbox_events(complaints_ctx)) == 1


def test_corrections_need_a_current_if_match(api):
    complaint = api.opened()
    api.acted(complaint["id"], "assign")

    response = api.patch(complaint["id"], {"title": "New"}, **{"If-Match": '"1"'})

    assert response.status_code == 412
    assert api.read(complaint["id"])["title"] == complaint["title"]


def test_a_resolved_complaint_can_no_longer_be_corrected(api):
    complaint = api.in_status("resolved")

    response = api.patch(complaint["id"], {"severity": "high"})

    assert response.status_code == 409


@pytest.mark.parametrize("body, field", [
    ({"severity": "urgent"}, "severity"),
    ({"title": ""}, "title"),
    ({"description": None}, "description"),
    ({"status": "closed"}, "status"),
])
def test_invalid_corrections_are_422(api, body, field):
    complaint = api.opened()

    response = api.patch(complaint["id"], body)

    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert api.read(complaint["id"])["version"] == 1


# -- notes ---------------------------------------------------------------------------------------

def test_a_note_is_a_timeline_entry(api):
    complaint = api.opened()
    api.clock.advance(minutes=3)

    response = api.note(complaint["id"], "  Called the bank.  ")

    assert response.status_code == 201
    assert response.headers["ETag"] == '"2"'
    entry = response.get_json()
    assert (entry["action"], entry["note"], entry["by"]) == ("note", "Called the bank.",
                                                             "staff-user")
    assert api.read(complaint["id"])["timeline"][-1] == entry


def test_notes_are_refused_on_closed_complaints_and_when_blank(api):
    closed = api.in_status("closed")
    open_one = api.opened()

    assert api.note(closed["id"], "Late").status_code == 409
    assert api.note(open_one["id"], " ").status_code == 422
    assert api.note(open_one["id"], "x" * 5001).status_code == 422


def test_notes_publish_no_event(api, complaints_ctx):
    complaint = api.opened()
    api.note(complaint["id"], "Internal")

    assert [e["event_type"] for e in outbox_events(complaints_ctx)] == ["complaint.opened"]
