"""SLA breaches: published once per complaint and kind, whoever notices first."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.complaints.domain import sla
from services.complaints.domain.workflow import Action, Status

OPENED_AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


def breaches(events):
    return [(event.data["kind"], event.data["deadline"]) for event in events
            if event.type == "complaint.sla_breached"]


def test_no_breach_is_due_before_a_deadline_passes(factory):
    complaint = factory.new(severity="high")

    assert complaint.due_breaches(complaint.respond_by) == []
    assert complaint.record_breaches(complaint.respond_by) == []


def test_an_unacknowledged_complaint_breaches_its_response_deadline_once(factory):
    complaint = factory.new(severity="high")
    late = complaint.respond_by + SECOND

    first = complaint.record_breaches(late)
    again = complaint.record_breaches(late + HOUR)

    assert breaches(first) == [("response", complaint.respond_by)]
    assert again == []
    assert complaint.response_breach_published


def test_acknowledging_late_publishes_the_response_breach_before_the_acknowledgement(factory):
    complaint = factory.new(severity="high")

    events = factory.act(complaint, Action.ACKNOWLEDGE, at=complaint.respond_by + HOUR)

    assert [event.type for event in events] == ["complaint.sla_breached",
                                                "complaint.acknowledged"]
    assert complaint.due_breaches(complaint.respond_by + 2 * HOUR) == []


def test_an_acknowledgement_after_respond_by_is_a_response_breach():
    respond_by = OPENED_AT + 4 * HOUR

    assert sla.response_breached(respond_by, respond_by + SECOND, now=respond_by + 9 * HOUR)
    assert not sla.response_breached(respond_by, respond_by, now=respond_by + 9 * HOUR)


def test_acknowledging_on_time_never_breaches_the_response(factory):
    complaint = factory.new(severity="high")
    factory.act(complaint, Action.ACKNOWLEDGE, at=complaint.respond_by)

    assert "response" not in complaint.due_breaches(complaint.respond_by + 100 * HOUR)


def test_an_unresolved_complaint_breaches_its_resolution_deadline_once(factory):
    complaint = factory.in_status(Status.IN_PROGRESS, severity="high")
    late = complaint.resolve_by + SECOND

    first = complaint.record_breaches(late)
    after_resolving = factory.act(complaint, Action.RESOLVE, at=late + HOUR)

    assert breaches(first) == [("resolution", complaint.resolve_by)]
    assert breaches(after_resolving) == []


def test_a_paused_complaint_does_not_breach_while_it_waits(factory):
    complaint = factory.in_status(Status.AWAITING_CLIENT, severity="high")

    assert complaint.due_breaches(complaint.resolve_by + 100 * HOUR) == []


def test_pausing_after_the_deadline_publishes_the_breach_that_already_happened(factory):
    complaint = factory.in_status(Status.IN_PROGRESS, severity="high")

    events = factory.act(complaint, Action.WAIT, at=complaint.resolve_by + HOUR)

    assert [event.type for event in events] == ["complaint.sla_breached",
                                                "complaint.waiting"]
    assert breaches(events) == [("resolution", complaint.resolve_by)]


def test_reopening_past_the_deadline_publishes_the_resolution_breach(factory):
    complaint = factory.in_status(Status.RESOLVED, severity="high")

    events = factory.act(complaint, Action.REOPEN, at=complaint.resolve_by + HOUR)

    assert [event.type for event in events] == ["complaint.reopened",
                                                "complaint.sla_breached"]


def test_a_breach_is_not_published_again_after_a_reclassification(factory):
    complaint = factory.new(severity="high")
    complaint.record_breaches(complaint.respond_by + SECOND)

    complaint.correct({"severity": "critical"}, "ann", complaint.respond_by + HOUR)

    assert complaint.due_breaches(complaint.respond_by + 2 * HOUR) == []


def test_each_kind_is_published_once_even_when_both_are_due(factory):
    complaint = factory.new(severity="critical")
    far_later = complaint.resolve_by + HOUR

    first = complaint.record_breaches(far_later)
    again = complaint.record_breaches(far_later + HOUR)

    assert [kind for kind, _ in breaches(first)] == ["response", "resolution"]
    assert again == []


def test_the_breach_event_says_what_was_missed(factory):
    complaint = factory.new(severity="high")

    [event] = complaint.record_breaches(complaint.respond_by + SECOND)

    assert event.subject == factory.client_id
    assert event.data == {
        "complaint_id": factory.complaint_id, "ref": "CMP-000042",
        "client_id": factory.client_id, "severity": "high", "kind": "response",
        "deadline": complaint.respond_by,
    }
