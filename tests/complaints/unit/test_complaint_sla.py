"""SLA deadlines, pauses, overdue and the resolution measures."""
from __future__ import annotations

from datetime import timedelta

import pytest

from services.complaints.domain.rules import ComplaintRules, SeverityTargets, SlaPolicy
from services.complaints.domain.workflow import Action, Status

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

DEFAULT_TARGETS = [
    ("critical", 1 * HOUR, 24 * HOUR),
    ("high", 4 * HOUR, 72 * HOUR),
    ("medium", 8 * HOUR, 5 * DAY),
    ("low", 24 * HOUR, 10 * DAY),
]


@pytest.mark.parametrize("severity, respond, resolve", DEFAULT_TARGETS)
def test_deadlines_follow_the_severity_in_calendar_time(factory, severity, respond, resolve):
    complaint = factory.new(severity=severity, client_tier="B")

    assert complaint.respond_by == factory.opened_at + respond
    assert complaint.resolve_by == factory.opened_at + resolve


@pytest.mark.parametrize("severity, respond, resolve", DEFAULT_TARGETS)
def test_tier_a_clients_get_half_the_time(factory, severity, respond, resolve):
    complaint = factory.new(severity=severity, client_tier="A")

    assert complaint.respond_by == factory.opened_at + respond / 2
    assert complaint.resolve_by == factory.opened_at + resolve / 2


@pytest.mark.parametrize("tier", ["B", "C", None])
def test_other_or_unknown_tiers_get_the_full_time(factory, tier):
    complaint = factory.new(severity="critical", client_tier=tier)

    assert complaint.resolve_by - complaint.opened_at == 24 * HOUR


def test_targets_and_tier_factors_are_configurable(factory):
    rules = ComplaintRules(sla=SlaPolicy(
        targets={"low": SeverityTargets(2 * HOUR, 2 * DAY),
                 "medium": SeverityTargets(2 * HOUR, 2 * DAY),
                 "high": SeverityTargets(2 * HOUR, 2 * DAY),
                 "critical": SeverityTargets(30 * timedelta(minutes=1), 12 * HOUR)},
        tier_factors={"A": 0.25, "B": 0.5},
    ))

    complaint = factory.new(severity="critical", client_tier="B", rules=rules)

    assert complaint.respond_by == factory.opened_at + timedelta(minutes=15)
    assert complaint.resolve_by == factory.opened_at + 6 * HOUR


def test_a_policy_missing_a_severity_is_refused():
    with pytest.raises(ValueError, match="critical"):
        SlaPolicy(targets={"low": SeverityTargets(HOUR, DAY)})


def waiting_complaint(factory, *, paused_at, severity="high"):
    """A complaint that started waiting for the client at ``paused_at``."""
    complaint = factory.in_status(Status.IN_PROGRESS, severity=severity)
    factory.act(complaint, Action.WAIT, at=paused_at)
    return complaint


def test_a_three_hour_pause_moves_the_resolution_deadline_three_hours(factory):
    complaint = waiting_complaint(factory, paused_at=factory.opened_at + 10 * HOUR)
    original = complaint.resolve_by

    factory.act(complaint, Action.RESUME, at=factory.opened_at + 13 * HOUR)

    assert complaint.resolve_by == original + 3 * HOUR
    assert complaint.waiting_s == 3 * 3600
    assert complaint.respond_by == factory.opened_at + 4 * HOUR


def test_a_pause_that_starts_after_the_deadline_does_not_move_it(factory):
    complaint = waiting_complaint(factory, paused_at=factory.opened_at + 73 * HOUR)
    original = complaint.resolve_by

    factory.act(complaint, Action.RESUME, at=factory.opened_at + 80 * HOUR)

    assert complaint.resolve_by == original
    assert complaint.waiting_s == 7 * 3600


def test_waiting_time_adds_up_over_every_pause(factory):
    complaint = waiting_complaint(factory, paused_at=factory.opened_at + HOUR)
    factory.act(complaint, Action.RESUME, at=factory.opened_at + 3 * HOUR)
    factory.act(complaint, Action.WAIT, at=factory.opened_at + 4 * HOUR)
    factory.act(complaint, Action.RESUME, at=factory.opened_at + 9 * HOUR)

    assert complaint.waiting_s == 7 * 3600
    assert complaint.resolve_by == factory.opened_at + (72 + 7) * HOUR


def test_pauses_are_counted_in_whole_seconds(factory):
    complaint = waiting_complaint(factory, paused_at=factory.opened_at + HOUR)

    factory.act(complaint, Action.RESUME,
                at=factory.opened_at + HOUR + timedelta(seconds=90, milliseconds=700))

    assert complaint.waiting_s == 90
    assert complaint.resolve_by == factory.opened_at + 72 * HOUR + timedelta(seconds=90)


def test_a_new_complaint_past_its_respond_by_is_overdue(factory):
    complaint = factory.new(severity="high")

    assert not complaint.overdue(complaint.respond_by)
    assert complaint.overdue(complaint.respond_by + timedelta(seconds=1))


def test_an_acknowledged_complaint_is_overdue_only_past_resolve_by(factory):
    complaint = factory.in_status(Status.ACKNOWLEDGED, severity="high")

    assert not complaint.overdue(complaint.respond_by + HOUR)
    assert complaint.overdue(complaint.resolve_by + timedelta(seconds=1))


def test_a_paused_complaint_is_not_overdue(factory):
    complaint = waiting_complaint(factory, paused_at=factory.opened_at + 73 * HOUR)

    assert not complaint.overdue(complaint.resolve_by + 10 * DAY)


@pytest.mark.parametrize("status", [Status.RESOLVED, Status.CLOSED])
def test_a_resolved_or_closed_complaint_is_not_overdue(factory, status):
    complaint = factory.in_status(status)

    assert not complaint.overdue(complaint.resolve_by + 10 * DAY)


def test_resolving_exactly_at_the_deadline_is_within_sla(factory):
    complaint = factory.in_status(Status.IN_PROGRESS, severity="high")

    factory.act(complaint, Action.RESOLVE, at=complaint.resolve_by)

    assert complaint.within_sla is True


def test_resolving_a_second_after_the_deadline_is_outside_sla(factory):
    complaint = factory.in_status(Status.IN_PROGRESS, severity="high")

    factory.act(complaint, Action.RESOLVE, at=complaint.resolve_by + timedelta(seconds=1))

    assert complaint.within_sla is False


def test_within_sla_uses_the_deadline_moved_by_a_pause(factory):
    complaint = waiting_complaint(factory, paused_at=factory.opened_at + 70 * HOUR)
    factory.act(complaint, Action.RESUME, at=factory.opened_at + 75 * HOUR)

    factory.act(complaint, Action.RESOLVE, at=factory.opened_at + 76 * HOUR)

    assert complaint.within_sla is True


def test_time_to_resolve_is_wall_clock_including_pauses(factory):
    complaint = waiting_complaint(factory, paused_at=factory.opened_at + HOUR)
    factory.act(complaint, Action.RESUME, at=factory.opened_at + 3 * HOUR)

    factory.act(complaint, Action.RESOLVE, at=factory.opened_at + 5 * HOUR)

    assert complaint.time_to_resolve_s == 5 * 3600


def test_a_reopened_complaint_keeps_its_deadline_and_is_measured_at_its_last_resolution(
        factory):
    complaint = factory.in_status(Status.RESOLVED, severity="high")
    deadline = complaint.resolve_by

    factory.act(complaint, Action.REOPEN, at=factory.opened_at + 2 * DAY)
    assert complaint.resolve_by == deadline
    assert complaint.within_sla is None

    factory.act(complaint, Action.RESOLVE, at=factory.opened_at + 4 * DAY)
    assert complaint.time_to_resolve_s == 4 * 86400
    assert complaint.within_sla is False
