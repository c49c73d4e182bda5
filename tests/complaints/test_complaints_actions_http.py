"""The workflow over HTTP: every action in every status, the 409 + ``allowed_actions``
contract, 422 for an unknown or missing action, ``If-Match`` on actions."""
from __future__ import annotations

import pytest

from shared.events import validate_data, validate_envelope
from tests.complaints.complaints_helpers import PATH_TO, VALID_FIELDS, outbox_events

ACTIONS = tuple(VALID_FIELDS)

# status → {allowed action: status after it}, in the order the API lists them.
EXPECTED: dict[str, dict[str, str]] = {
    "new": {"acknowledge": "acknowledged", "assign": "new"},
    "acknowledged": {"assign": "acknowledged", "start": "in_progress",
                     "escalate": "escalated", "resolve": "resolved"},
    "in_progress": {"assign": "in_progress", "escalate": "escalated",
                    "wait": "awaiting_client", "resolve": "resolved"},
    "escalated": {"assign": "escalated", "wait": "awaiting_client", "resolve": "resolved"},
    "awaiting_client": {"assign": "awaiting_client", "resume": "in_progress"},
    "resolved": {"close": "closed", "reopen": "in_progress"},
    "closed": {"reopen": "in_progress"},
}


@pytest.mark.parametrize("status", list(PATH_TO))
def test_every_action_in_every_status(api, status):
    expected = EXPECTED[status]
    for action in ACTIONS:
        complaint = api.in_status(status)
        api.clock.advance(minutes=5)

        response = api.act(complaint["id"], action)

        if action in expected:
            assert response.status_code == 200, (action, response.get_json())
            body = response.get_json()
            assert body["status"] == expected[action], action
            assert body["version"] == complaint["version"] + 1
            assert response.headers["ETag"] == f'"{body["version"]}"'
            entry = body["timeline"][-1]
            assert (entry["action"], entry["from_status"], entry["to_status"], entry["by"]) == (
                action, status, expected[action], "staff-user")
        else:
            assert response.status_code == 409, (action, response.get_json())
            problem = response.get_json()
            assert response.mimetype == "application/problem+json"
            assert problem["allowed_actions"] == list(expected), action
            assert api.read(complaint["id"])["version"] == complaint["version"]


def test_the_representation_lists_the_allowed_actions(api):
    for status, expected in EXPECTED.items():
        assert api.in_status(status)["allowed_actions"] == list(expected), status


def test_every_action_once_publishes_its_event(api, complaints_ctx):
    complaint = api.opened()
    steps = ["assign", "acknowledge", "start", "escalate", "wait", "resume", "resolve", "close",
             "reopen"]
    for action in steps:
        api.clock.advance(minutes=30)
        api.acted(complaint["id"], action)

    events = [event for event in outbox_events(complaints_ctx)
              if event["data"].get("complaint_id") == complaint["id"]]
    assert [event["event_type"] for event in events] == ["complaint.opened"] + [
        {"assign": "complaint.assigned", "acknowledge": "complaint.acknowledged",
         "start": "complaint.started", "escalate": "complaint.escalated",
         "wait": "complaint.waiting", "resume": "complaint.resumed",
         "resolve": "complaint.resolved", "close": "complaint.closed",
         "reopen": "complaint.reopened"}[action] for action in steps]
    for event in events:
        validate_data(event["event_type"], event["data"])
        validate_envelope({k: v for k, v in event.items() if k != "event_type"})
        assert event["subject"] == complaint["client_id"]
        assert event["data"]["ref"] == complaint["ref"]
        assert event["data"]["severity"] == "medium"
    assert [event["sequence"] for event in events] == [
        str(number).zfill(20) for number in range(1, len(events) + 1)]
    by_type = {event["event_type"]: event["data"] for event in events}
    assert by_type["complaint.assigned"]["assignee"] == "Li Wei"
    assert by_type["complaint.escalated"]["reason"] == VALID_FIELDS["escalate"]["reason"]
    assert by_type["complaint.resolved"]["within_sla"] is True
    assert by_type["complaint.resolved"]["waiting_s"] == 30 * 60
    assert by_type["complaint.closed"]["client_accepted"] is True
    assert all(data.get("by", "staff-user") == "staff-user" for data in by_type.values())


@pytest.mark.parametrize("body, field", [
    ({"action": "approve"}, "action"),
    ({"action": ""}, "action"),
    ({"action": None}, "action"),
    ({"action": 3}, "action"),
    ({}, "action"),
    ({"assignee": "Li Wei"}, "action"),
])
def test_an_unknown_or_missing_action_is_422(api, body, field):
    complaint = api.opened()

    response = api.action(complaint["id"], body)

    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert api.read(complaint["id"])["version"] == complaint["version"]


def test_an_allowed_action_with_invalid_fields_is_422_naming_each(api):
    complaint = api.in_status("in_progress")

    response = api.action(complaint["id"], {"action": "resolve", "resolution_code": "nope",
                                            "summary": "  "})

    assert response.status_code == 422
    assert sorted(response.get_json()["errors"]) == ["resolution_code", "root_cause", "summary"]


def test_a_refused_action_is_409_even_with_invalid_fields(api):
    complaint = api.opened()

    response = api.action(complaint["id"], {"action": "resolve"})

    assert response.status_code == 409
    assert response.get_json()["allowed_actions"] == ["acknowledge", "assign"]


def test_an_action_with_a_stale_if_match_is_412_and_changes_nothing(api):
    complaint = api.opened()
    api.acted(complaint["id"], "assign")

    response = api.act(complaint["id"], "acknowledge",
                       headers=api.headers(**{"If-Match": f'"{complaint["version"]}"'}))

    assert response.status_code == 412
    assert api.read(complaint["id"])["status"] == "new"


def test_an_action_with_the_current_if_match_applies(api):
    complaint = api.opened()

    response = api.act(complaint["id"], "acknowledge",
                       headers=api.headers(**{"If-Match": f'"{complaint["version"]}"'}))

    assert response.status_code == 200
    assert response.get_json()["status"] == "acknowledged"


def test_an_action_may_carry_a_note_for_the_timeline_and_event(api, complaints_ctx):
    complaint = api.opened()

    body = api.acted(complaint["id"], "acknowledge", note="Called the client back.")

    assert body["timeline"][-1]["note"] == "Called the client back."
    event = outbox_events(complaints_ctx)[-1]
    assert event["data"]["note"] == "Called the client back."
    validate_data(event["event_type"], event["data"])


def test_reopening_is_refused_after_the_reopen_window(api):
    complaint = api.in_status("resolved")
    api.clock.advance(days=31)

    response = api.act(complaint["id"], "reopen")

    assert response.status_code == 409
    assert response.get_json()["allowed_actions"] == ["close"]


def test_assignment_keeps_the_status_and_sets_the_assignee(api):
    complaint = api.in_status("escalated")

    body = api.acted(complaint["id"], "assign", assignee="  Wang   Fang ")

    assert (body["status"], body["assignee"]) == ("escalated", "Wang Fang")
    assert api.list(assignee="Wang Fang").get_json()["total"] == 1
