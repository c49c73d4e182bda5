"""What subscribers receive: the data of every complaint event."""
from __future__ import annotations

from datetime import timedelta

import pytest

from services.complaints.domain.events import EVENT_TYPES, REQUIRED_DATA, DomainEvent
from services.complaints.domain.workflow import Action, Status

HOUR = timedelta(hours=1)

CONTRACT_DATA = {
    "complaint.opened": {"complaint_id", "ref", "client_id", "severity", "category", "channel",
                         "opened_at", "respond_by", "resolve_by"},
    "complaint.acknowledged": {"complaint_id", "ref", "client_id", "severity", "by",
                               "resolve_by"},
    "complaint.assigned": {"complaint_id", "ref", "client_id", "severity", "by", "resolve_by",
                           "assignee"},
    "complaint.started": {"complaint_id", "ref", "client_id", "severity", "by", "resolve_by"},
    "complaint.escalated": {"complaint_id", "ref", "client_id", "severity", "by",
                            "resolve_by", "reason"},
    "complaint.waiting": {"complaint_id", "ref", "client_id", "severity", "by", "resolve_by",
                          "reason"},
    "complaint.resumed": {"complaint_id", "ref", "client_id", "severity", "by", "resolve_by"},
    "complaint.closed": {"complaint_id", "ref", "client_id", "severity", "by", "resolve_by",
                         "client_accepted"},
    "complaint.reclassified": {"complaint_id", "ref", "client_id", "previous_severity",
                               "severity", "respond_by", "resolve_by"},
    "complaint.sla_breached": {"complaint_id", "ref", "client_id", "severity", "kind",
                               "deadline"},
    "complaint.resolved": {"complaint_id", "ref", "client_id", "severity", "resolution_code",
                           "root_cause", "within_sla", "time_to_resolve_s", "waiting_s"},
    "complaint.reopened": {"complaint_id", "ref", "client_id", "severity", "reason"},
}


def test_the_catalogue_promises_the_spec_fields_for_every_event_type():
    assert set(EVENT_TYPES) == set(CONTRACT_DATA)
    assert {event_type: set(fields) for event_type, fields in REQUIRED_DATA.items()} == CONTRACT_DATA


@pytest.fixture
def journey(factory):
    """Every event of one complaint's life, opened high-severity for a tier-B client."""
    complaint, events = factory.open(severity="high")
    opened = factory.opened_at
    steps = [
        (Action.ASSIGN, 10, {"assignee": "Li Wei"}),
        (Action.ACKNOWLEDGE, 20, {}),
        (Action.START, 30, {}),
        (Action.ESCALATE, 60, {}),
        (Action.WAIT, 120, {}),
        (Action.RESUME, 300, {}),
        (Action.RESOLVE, 600, {}),
        (Action.REOPEN, 24 * 60, {}),
        (Action.RESOLVE, 48 * 60, {"resolution_code": "fixed", "root_cause": "Card retry bug"}),
        (Action.CLOSE, 72 * 60, {"client_accepted": False}),
    ]
    for action, minutes, fields in steps:
        events += factory.act(complaint, action, at=opened + timedelta(minutes=minutes),
                              **fields)
    return complaint, events


def test_every_event_carries_at_least_the_spec_fields(journey):
    _, events = journey

    for event in events:
        assert CONTRACT_DATA[event.type] <= set(event.data), event.type


def test_every_event_is_about_the_client(journey, factory):
    _, events = journey

    assert {event.subject for event in events} == {factory.client_id}
    assert {event.data["client_id"] for event in events} == {factory.client_id}


def only(events: list[DomainEvent], event_type: str) -> list[dict]:
    return [event.data for event in events if event.type == event_type]


def test_the_opened_event_gives_the_deadlines(factory):
    complaint, [event] = factory.open(severity="high", channel="phone", category="delivery")

    assert event.type == "complaint.opened"
    assert event.occurred_at == factory.opened_at
    assert event.data == {
        "complaint_id": factory.complaint_id, "ref": "CMP-000042",
        "client_id": factory.client_id, "severity": "high", "category": "delivery",
        "channel": "phone", "opened_at": factory.opened_at,
        "respond_by": factory.opened_at + 4 * HOUR, "resolve_by": factory.opened_at + 72 * HOUR,
        "by": "ann",
    }


def test_action_events_name_who_acted_and_the_action_fields(journey, factory):
    _, events = journey

    [assigned] = only(events, "complaint.assigned")
    [escalated] = only(events, "complaint.escalated")
    [waiting] = only(events, "complaint.waiting")
    assert assigned["assignee"] == "Li Wei"
    assert assigned["by"] == "bo"
    assert escalated["reason"] == factory.valid_fields[Action.ESCALATE]["reason"]
    assert waiting["reason"] == factory.valid_fields[Action.WAIT]["reason"]
    assert waiting["resolve_by"] == factory.opened_at + 72 * HOUR


def test_the_resumed_event_gives_the_moved_deadline(journey, factory):
    _, events = journey

    [resumed] = only(events, "complaint.resumed")

    assert resumed["resolve_by"] == factory.opened_at + 75 * HOUR
    assert resumed["paused_s"] == resumed["waiting_s"] == 3 * 3600


def test_the_resolved_event_measures_each_resolution(journey, factory):
    _, events = journey

    first, second = only(events, "complaint.resolved")

    assert first["resolution_code"] == "refund"
    assert first["root_cause"] == "Duplicate billing run"
    assert first["within_sla"] is True
    assert first["time_to_resolve_s"] == 10 * 3600
    assert first["waiting_s"] == 3 * 3600
    assert second["root_cause"] == "Card retry bug"
    assert second["time_to_resolve_s"] == 48 * 3600
    assert second["within_sla"] is True


def test_the_reopened_event_gives_the_reason(journey, factory):
    _, events = journey

    [reopened] = only(events, "complaint.reopened")

    assert reopened["reason"] == factory.valid_fields[Action.REOPEN]["reason"]
    assert reopened["reopen_count"] == 1


def test_the_closed_event_gives_the_clients_answer(journey):
    _, events = journey

    [closed] = only(events, "complaint.closed")

    assert closed["client_accepted"] is False
    assert closed["automatic"] is False


def test_the_reclassified_event_gives_both_severities_and_new_deadlines(factory):
    complaint = factory.in_status(Status.ACKNOWLEDGED, severity="medium")

    [event] = complaint.correct({"severity": "critical"}, "ann",
                                factory.opened_at + HOUR)

    assert event.type == "complaint.reclassified"
    assert event.data == {
        "complaint_id": factory.complaint_id, "ref": "CMP-000042",
        "client_id": factory.client_id, "previous_severity": "medium",
        "severity": "critical", "respond_by": factory.opened_at + HOUR,
        "resolve_by": factory.opened_at + 24 * HOUR, "by": "ann",
    }


def test_event_data_renders_as_json_with_utc_instants(factory):
    _, [event] = factory.open()

    data = event.json_data()

    assert data["opened_at"] == "2025-03-03T09:00:00Z"
    assert data["complaint_id"] == str(factory.complaint_id)
    assert data["client_id"] == str(factory.client_id)
