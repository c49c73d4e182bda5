"""Every workflow action takes an optional staff note for its timeline entry and event."""
from __future__ import annotations

from datetime import timedelta

import pytest

from services.complaints.domain.workflow import Action, Status
from shared.errors import ValidationFailed

HOUR = timedelta(hours=1)


def test_a_note_joins_what_the_action_says(factory):
    complaint = factory.in_status(Status.IN_PROGRESS)

    events = factory.act(complaint, Action.ESCALATE, at=factory.opened_at + HOUR,
                         note="  Manager informed.  ")

    entry = complaint.timeline[-1]
    assert entry.note == "Refund above the agent's limit\n\nManager informed."
    assert entry.details["note"] == "Manager informed."
    assert events[-1].data["note"] == "Manager informed."


def test_an_action_without_its_own_text_keeps_just_the_note(factory):
    complaint = factory.new()

    factory.act(complaint, Action.ACKNOWLEDGE, at=factory.opened_at + HOUR, note="Called back")

    assert complaint.timeline[-1].note == "Called back"


@pytest.mark.parametrize("note", [None, "", "   "])
def test_an_empty_note_is_no_note(factory, note):
    complaint = factory.new()

    events = factory.act(complaint, Action.ACKNOWLEDGE, at=factory.opened_at + HOUR, note=note)

    assert complaint.timeline[-1].note is None
    assert "note" not in complaint.timeline[-1].details and "note" not in events[-1].data


@pytest.mark.parametrize("note, message", [(5, "Not a valid string."),
                                           ("x" * 5001, "Longer than maximum length 5000.")])
def test_an_invalid_note_is_refused(factory, note, message):
    complaint = factory.new()

    with pytest.raises(ValidationFailed) as invalid:
        factory.act(complaint, Action.ACKNOWLEDGE, at=factory.opened_at + HOUR, note=note)

    assert invalid.value.errors == {"note": [message]}
    assert complaint.status == "new"
