"""The complaint workflow table: every action from every status, and the action fields."""
from __future__ import annotations

from datetime import timedelta

import pytest

from services.complaints.domain.workflow import Action, Status, allowed_actions
from shared.errors import ActionNotAllowed, ValidationFailed

ALL_STATUSES = ("new", "acknowledged", "in_progress", "escalated", "awaiting_client",
                "resolved", "closed")
ALL_ACTIONS = ("acknowledge", "assign", "start", "escalate", "wait", "resume", "resolve",
               "close", "reopen")

MOVES = {
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
"""Status → the actions it accepts → the status they lead to."""

ALLOWED_IN_ORDER = {
    "new": ["acknowledge", "assign"],
    "acknowledged": ["assign", "start", "escalate", "resolve"],
    "in_progress": ["assign", "escalate", "wait", "resolve"],
    "escalated": ["assign", "wait", "resolve"],
    "awaiting_client": ["assign", "resume"],
    "resolved": ["close", "reopen"],
    "closed": ["reopen"],
}

EVENT_OF = {
    "acknowledge": "complaint.acknowledged", "assign": "complaint.assigned",
    "start": "complaint.started", "escalate": "complaint.escalated",
    "wait": "complaint.waiting", "resume": "complaint.resumed",
    "resolve": "complaint.resolved", "close": "complaint.closed",
    "reopen": "complaint.reopened",
}

EVERY_ACTION_IN_EVERY_STATUS = [(status, action) for status in ALL_STATUSES
                                for action in ALL_ACTIONS]


@pytest.mark.parametrize("status, action", EVERY_ACTION_IN_EVERY_STATUS,
                         ids=[f"{a}-from-{s}" for s, a in EVERY_ACTION_IN_EVERY_STATUS])
def test_each_action_moves_to_its_status_or_is_refused_with_the_allowed_list(
        factory, status, action):
    complaint = factory.in_status(Status(status))
    at = factory.last_action_time(complaint) + timedelta(minutes=5)
    version = complaint.version

    if action in MOVES[status]:
        events = factory.act(complaint, Action(action), at=at)

        assert complaint.status == MOVES[status][action]
        assert [event.type for event in events] == [EVENT_OF[action]]
        assert complaint.version == version + 1
    else:
        with pytest.raises(ActionNotAllowed) as refused:
            factory.act(complaint, Action(action), at=at)

        assert refused.value.allowed_actions == ALLOWED_IN_ORDER[status]
        assert refused.value.status == status
        assert refused.value.action == action
        assert complaint.status == status
        assert complaint.version == version


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_allowed_actions_are_listed_in_the_documented_order(factory, status):
    complaint = factory.in_status(Status(status))
    now = factory.last_action_time(complaint) + timedelta(hours=1)

    assert complaint.allowed_actions(now) == ALLOWED_IN_ORDER[status]


@pytest.mark.parametrize("status, allowed_after_window", [
    ("resolved", ["close"]),
    ("closed", []),
])
def test_reopen_is_allowed_up_to_exactly_thirty_days_after_resolution(
        factory, status, allowed_after_window):
    complaint = factory.in_status(Status(status))
    resolved_at = complaint.resolved_at

    at_edge = allowed_actions(status, resolved_at, resolved_at + timedelta(days=30))
    just_after = allowed_actions(status, resolved_at,
                                 resolved_at + timedelta(days=30, seconds=1))

    assert "reopen" in at_edge
    assert just_after == allowed_after_window


def test_reopen_after_the_window_is_refused(factory):
    complaint = factory.in_status(Status.CLOSED)
    late = complaint.resolved_at + timedelta(days=31)

    with pytest.raises(ActionNotAllowed) as refused:
        factory.act(complaint, Action.REOPEN, at=late)

    assert refused.value.allowed_actions == []
    assert complaint.status == "closed"


def test_an_unknown_action_is_a_validation_error_on_action(factory):
    complaint = factory.new()

    with pytest.raises(ValidationFailed) as invalid:
        complaint.act("approve", {}, "bo", factory.opened_at + timedelta(minutes=1))

    assert list(invalid.value.errors) == ["action"]


def test_a_refused_action_is_reported_before_its_missing_fields(factory):
    complaint = factory.new()

    with pytest.raises(ActionNotAllowed):
        complaint.act("resolve", {}, "bo", factory.opened_at + timedelta(minutes=1))


REQUIRED_FIELDS = [
    ("assign", "assignee", "new"),
    ("escalate", "reason", "in_progress"),
    ("wait", "reason", "in_progress"),
    ("resolve", "resolution_code", "in_progress"),
    ("resolve", "root_cause", "in_progress"),
    ("resolve", "summary", "in_progress"),
    ("close", "client_accepted", "resolved"),
    ("reopen", "reason", "resolved"),
]


@pytest.mark.parametrize("action, field, status", REQUIRED_FIELDS,
                         ids=[f"{a}.{f}" for a, f, _ in REQUIRED_FIELDS])
def test_a_missing_action_field_is_named_and_nothing_changes(factory, action, field, status):
    complaint = factory.in_status(Status(status))
    fields = {k: v for k, v in factory.valid_fields[Action(action)].items() if k != field}
    version, timeline_length = complaint.version, len(complaint.timeline)

    with pytest.raises(ValidationFailed) as invalid:
        complaint.act(action, fields, "bo", factory.last_action_time(complaint)
                      + timedelta(minutes=1))

    assert invalid.value.errors == {field: ["Missing data for required field."]}
    assert complaint.status == status
    assert (complaint.version, len(complaint.timeline)) == (version, timeline_length)


@pytest.mark.parametrize("action, field, status", [
    ("assign", "assignee", "new"), ("escalate", "reason", "acknowledged"),
    ("reopen", "reason", "closed"), ("resolve", "summary", "in_progress"),
])
def test_blank_text_does_not_count_as_a_field(factory, action, field, status):
    complaint = factory.in_status(Status(status))

    with pytest.raises(ValidationFailed) as invalid:
        factory.act(complaint, Action(action), at=factory.last_action_time(complaint)
                    + timedelta(minutes=1), **{field: "   "})

    assert invalid.value.errors == {field: ["Must not be blank."]}


def test_resolution_code_must_come_from_the_list(factory):
    complaint = factory.in_status(Status.IN_PROGRESS)

    with pytest.raises(ValidationFailed) as invalid:
        factory.act(complaint, Action.RESOLVE, at=factory.opened_at + timedelta(hours=1),
                    resolution_code="sorted")

    assert list(invalid.value.errors) == ["resolution_code"]
    assert "refund" in invalid.value.errors["resolution_code"][0]


def test_root_cause_longer_than_200_characters_is_refused(factory):
    complaint = factory.in_status(Status.IN_PROGRESS)

    with pytest.raises(ValidationFailed) as invalid:
        factory.act(complaint, Action.RESOLVE, at=factory.opened_at + timedelta(hours=1),
                    root_cause="x" * 201)

    assert invalid.value.errors == {"root_cause": ["Longer than maximum length 200."]}


def test_root_cause_whitespace_is_collapsed_so_reports_group_it(factory):
    complaint = factory.in_status(Status.IN_PROGRESS)

    factory.act(complaint, Action.RESOLVE, at=factory.opened_at + timedelta(hours=1),
                root_cause="  Duplicate   billing\nrun ")

    assert complaint.root_cause == "Duplicate billing run"


@pytest.mark.parametrize("answer, message", [
    (None, "Field may not be null."),
    ("yes", "Not a valid boolean."),
    (1, "Not a valid boolean."),
])
def test_staff_must_say_whether_the_client_accepted(factory, answer, message):
    complaint = factory.in_status(Status.RESOLVED)

    with pytest.raises(ValidationFailed) as invalid:
        factory.act(complaint, Action.CLOSE, at=factory.opened_at + timedelta(hours=1),
                    client_accepted=answer)

    assert invalid.value.errors == {"client_accepted": [message]}
    assert complaint.status == "resolved"


def test_fields_an_action_does_not_take_are_refused(factory):
    complaint = factory.new()

    with pytest.raises(ValidationFailed) as invalid:
        complaint.act("acknowledge", {"assignee": "Li Wei"}, "bo",
                      factory.opened_at + timedelta(minutes=1))

    assert invalid.value.errors == {"assignee": ["Unknown field."]}


def test_every_problem_with_the_fields_is_reported_at_once(factory):
    complaint = factory.in_status(Status.IN_PROGRESS)

    with pytest.raises(ValidationFailed) as invalid:
        complaint.act("resolve", {"resolution_code": "nope"}, "bo",
                      factory.opened_at + timedelta(hours=1))

    assert sorted(invalid.value.errors) == ["resolution_code", "root_cause", "summary"]


def test_an_action_needs_someone_to_do_it(factory):
    complaint = factory.new()

    with pytest.raises(ValidationFailed) as invalid:
        complaint.act("acknowledge", {}, " ", factory.opened_at + timedelta(minutes=1))

    assert list(invalid.value.errors) == ["by"]


def test_a_naive_clock_is_a_programming_error(factory):
    complaint = factory.new()

    with pytest.raises(ValueError):
        complaint.act("acknowledge", {}, "bo", factory.opened_at.replace(tzinfo=None))
