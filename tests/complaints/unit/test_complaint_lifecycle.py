"""Opening, the timeline, internal notes, triage corrections and the automatic close."""
from __future__ import annotations

from datetime import timedelta

import pytest

from services.complaints.domain.rules import ComplaintRules
from services.complaints.domain.workflow import Action, Status
from shared.errors import ActionNotAllowed, Conflict, ValidationFailed

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


# -- opening ---------------------------------------------------------------------------------

def test_a_new_complaint_starts_new_with_its_fields(factory):
    complaint = factory.new(assignee=" Li Wei ", title="  Charged twice  ")

    assert complaint.status == "new"
    assert complaint.title == "Charged twice"
    assert complaint.assignee == "Li Wei"
    assert complaint.opened_at == factory.opened_at
    assert complaint.version == 1
    assert (complaint.waiting_s, complaint.reopen_count) == (0, 0)


def test_opening_is_the_first_timeline_entry(factory):
    complaint = factory.new()

    [entry] = complaint.timeline
    assert (entry.at, entry.by, entry.action) == (factory.opened_at, "ann", "open")
    assert (entry.from_status, entry.to_status) == (None, "new")


def test_opening_reports_every_invalid_field(factory):
    with pytest.raises(ValidationFailed) as invalid:
        factory.open(channel="fax", category=None, severity="urgent", title=" ")

    assert invalid.value.errors == {
        "channel": ["Must be one of: phone, email, web, meeting, survey, other."],
        "category": ["Field may not be null."],
        "severity": ["Must be one of: low, medium, high, critical."],
        "title": ["Must not be blank."],
    }


def test_description_and_remedy_are_optional(factory):
    complaint = factory.new(description=None, remedy_sought=None)

    assert complaint.description == ""
    assert complaint.remedy_sought is None


def test_a_title_longer_than_200_characters_is_refused(factory):
    with pytest.raises(ValidationFailed) as invalid:
        factory.open(title="x" * 201)

    assert invalid.value.errors == {"title": ["Longer than maximum length 200."]}


def test_a_malformed_reference_is_a_programming_error(factory):
    with pytest.raises(ValueError):
        factory.open(ref="CMP-42")


# -- timeline --------------------------------------------------------------------------------

TIMELINE_NOTES = [
    ("new", Action.ASSIGN, "Assigned to Li Wei."),
    ("new", Action.ACKNOWLEDGE, None),
    ("acknowledged", Action.START, None),
    ("in_progress", Action.ESCALATE, "Refund above the agent's limit"),
    ("escalated", Action.WAIT, "Asked the client for the order number"),
    ("awaiting_client", Action.RESUME, None),
    ("in_progress", Action.RESOLVE, "Refunded the duplicate charge"),
    ("resolved", Action.CLOSE, "The client accepted the resolution."),
    ("closed", Action.REOPEN, "The refund never arrived"),
]


@pytest.mark.parametrize("status, action, note", TIMELINE_NOTES,
                         ids=[action.value for _, action, _ in TIMELINE_NOTES])
def test_every_action_adds_a_timeline_entry(factory, status, action, note):
    complaint = factory.in_status(Status(status))
    at = factory.last_action_time(complaint) + HOUR

    factory.act(complaint, action, at=at, by="chen")

    entry = complaint.timeline[-1]
    assert (entry.at, entry.by, entry.action) == (at, "chen", action.value)
    assert (entry.from_status, entry.to_status) == (status, complaint.status)
    assert entry.note == note
    assert entry.details == factory.valid_fields[action]


def test_a_refused_action_leaves_no_trace(factory):
    complaint = factory.new()

    with pytest.raises(ActionNotAllowed):
        factory.act(complaint, Action.START, at=factory.opened_at + HOUR)

    assert [entry.action for entry in complaint.timeline] == ["open"]


# -- notes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["new", "in_progress", "awaiting_client", "resolved"])
def test_a_note_can_be_added_in_any_status_but_closed(factory, status):
    complaint = factory.in_status(Status(status))
    version = complaint.version

    entry = complaint.add_note("  Called the bank  ", "chen", factory.opened_at + DAY)

    assert complaint.timeline[-1] is entry
    assert (entry.action, entry.by, entry.note) == ("note", "chen", "Called the bank")
    assert entry.from_status == entry.to_status == status
    assert complaint.status == status
    assert complaint.version == version + 1


def test_a_note_on_a_closed_complaint_is_refused(factory):
    complaint = factory.in_status(Status.CLOSED)
    timeline_length = len(complaint.timeline)

    with pytest.raises(Conflict):
        complaint.add_note("Too late", "chen", factory.opened_at + DAY)

    assert len(complaint.timeline) == timeline_length


def test_an_empty_note_is_refused(factory):
    complaint = factory.new()

    with pytest.raises(ValidationFailed) as invalid:
        complaint.add_note("", "chen", factory.opened_at + HOUR)

    assert list(invalid.value.errors) == ["text"]


# -- triage corrections ----------------------------------------------------------------------

def test_a_severity_change_recomputes_both_deadlines_from_opening(factory):
    complaint = factory.in_status(Status.ACKNOWLEDGED, severity="low")

    complaint.correct({"severity": "high"}, "ann", factory.opened_at + 2 * DAY)

    assert complaint.severity == "high"
    assert complaint.respond_by == factory.opened_at + 4 * HOUR
    assert complaint.resolve_by == factory.opened_at + 72 * HOUR


def test_a_severity_change_keeps_the_time_added_by_pauses(factory):
    complaint = factory.in_status(Status.IN_PROGRESS, severity="low")
    factory.act(complaint, Action.WAIT, at=factory.opened_at + HOUR)
    factory.act(complaint, Action.RESUME, at=factory.opened_at + 4 * HOUR)

    complaint.correct({"severity": "high"}, "ann", factory.opened_at + 5 * HOUR)

    assert complaint.resolve_by == factory.opened_at + (72 + 3) * HOUR


def test_a_severity_change_keeps_the_tier_the_complaint_was_opened_with(factory):
    complaint = factory.new(severity="low", client_tier="A")

    complaint.correct({"severity": "critical"}, "ann", factory.opened_at + HOUR)

    assert complaint.resolve_by == factory.opened_at + 12 * HOUR


def test_corrections_of_text_and_category_publish_nothing_but_are_recorded(factory):
    complaint = factory.new(category="billing")

    events = complaint.correct({"title": "Charged twice in March", "category": "service"},
                               "ann", factory.opened_at + HOUR)

    assert events == []
    assert (complaint.title, complaint.category) == ("Charged twice in March", "service")
    entry = complaint.timeline[-1]
    assert entry.action == "correct"
    assert entry.note == "Title corrected; category: billing → service."
    assert entry.details["category"] == {"from": "billing", "to": "service"}


def test_a_correction_that_changes_nothing_records_nothing(factory):
    complaint = factory.new(severity="medium")
    version = complaint.version

    events = complaint.correct({"severity": "medium"}, "ann", factory.opened_at + HOUR)

    assert events == []
    assert complaint.version == version
    assert len(complaint.timeline) == 1


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_a_resolved_or_closed_complaint_cannot_be_corrected(factory, status):
    complaint = factory.in_status(Status(status), severity="low")

    with pytest.raises(Conflict):
        complaint.correct({"severity": "high"}, "ann", factory.opened_at + DAY)

    assert complaint.severity == "low"


def test_only_triage_fields_can_be_corrected(factory):
    complaint = factory.new()

    with pytest.raises(ValidationFailed) as invalid:
        complaint.correct({"status": "closed", "severity": "urgent"}, "ann",
                          factory.opened_at + HOUR)

    assert set(invalid.value.errors) == {"status", "severity"}


# -- automatic close -------------------------------------------------------------------------

def test_a_resolved_complaint_closes_itself_after_seven_days(factory):
    complaint = factory.in_status(Status.RESOLVED)
    due = complaint.resolved_at + 7 * DAY

    assert complaint.auto_close(due - timedelta(seconds=1)) == []
    [event] = complaint.auto_close(due)

    assert complaint.status == "closed"
    assert complaint.closed_at == due
    assert complaint.client_accepted is None
    assert event.type == "complaint.closed"
    assert (event.data["by"], event.data["client_accepted"], event.data["automatic"]) == (
        "system", None, True)
    entry = complaint.timeline[-1]
    assert (entry.by, entry.action, entry.from_status, entry.to_status) == (
        "system", "close", "resolved", "closed")


def test_a_reopened_complaint_does_not_close_itself(factory):
    complaint = factory.in_status(Status.RESOLVED)
    first_resolution = complaint.resolved_at
    factory.act(complaint, Action.REOPEN, at=first_resolution + 2 * DAY)

    assert complaint.auto_close(first_resolution + 8 * DAY) == []
    assert complaint.status == "in_progress"


def test_after_a_reopen_the_seven_days_count_from_the_new_resolution(factory):
    complaint = factory.in_status(Status.RESOLVED)
    factory.act(complaint, Action.REOPEN, at=complaint.resolved_at + 2 * DAY)
    second_resolution = factory.opened_at + 5 * DAY
    factory.act(complaint, Action.RESOLVE, at=second_resolution)

    assert complaint.auto_close(second_resolution + 7 * DAY - timedelta(seconds=1)) == []
    assert len(complaint.auto_close(second_resolution + 7 * DAY)) == 1


def test_the_auto_close_delay_is_configurable(factory):
    rules = ComplaintRules(auto_close_after=2 * DAY)
    complaint = factory.in_status(Status.RESOLVED, rules=rules)

    assert complaint.auto_close_due(complaint.resolved_at + 2 * DAY, rules)
    assert not complaint.auto_close_due(complaint.resolved_at + 2 * DAY)


def test_closing_through_an_action_always_needs_the_clients_answer(factory):
    complaint = factory.in_status(Status.RESOLVED)

    with pytest.raises(ValidationFailed):
        complaint.act("close", {"client_accepted": None}, "system",
                      complaint.resolved_at + DAY)
