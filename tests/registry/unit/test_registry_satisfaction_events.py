"""Reading feedback and complaint events off the bus."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from services.registry.domain.events import (SatisfactionEvent, is_satisfaction_event,
                                             read_comment)
from shared.errors import ValidationFailed

AT = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def complaint_data(**overrides):
    return {"complaint_id": "id-1", "ref": "CMP-000042", "client_id": "c-1",
            "severity": "high", **overrides}


def read(event_type, data, occurred_at=AT, event_id="e-1"):
    return SatisfactionEvent.from_bus(event_id, event_type, occurred_at, data)


def test_survey_response_keeps_its_score_exactly():
    event = read("survey.response.submitted", {"score": 83.33, "nps": 9})

    assert event.score == Decimal("83.33")
    assert event.severity is None


def test_survey_response_with_null_score_is_read_with_no_score():
    assert read("survey.response.submitted", {"score": None}).score is None


@pytest.mark.parametrize("score", [-1, 100.5, "abc", True, [80]])
def test_survey_score_outside_0_to_100_is_refused(score):
    with pytest.raises(ValidationFailed) as failed:
        read("survey.response.submitted", {"score": score})

    assert list(failed.value.errors) == ["data.score"]


def test_resolution_carries_severity_ref_and_whether_within_sla():
    event = read("complaint.resolved", complaint_data(within_sla=False, root_cause="x"))

    assert (event.severity, event.ref, event.within_sla) == ("high", "CMP-000042", False)


def test_resolution_without_within_sla_is_refused():
    with pytest.raises(ValidationFailed) as failed:
        read("complaint.resolved", complaint_data())

    assert list(failed.value.errors) == ["data.within_sla"]


def test_reclassification_carries_both_severities():
    event = read("complaint.reclassified", complaint_data(previous_severity="medium",
                                                         severity="critical"))

    assert (event.previous_severity, event.severity) == ("medium", "critical")


def test_complaint_with_unknown_severity_or_missing_ref_names_both_fields():
    with pytest.raises(ValidationFailed) as failed:
        read("complaint.opened", {"severity": "urgent"})

    assert set(failed.value.errors) == {"data.severity", "data.ref"}


def test_cloudevents_type_is_accepted_and_shortened():
    event = read("clientloop.complaint.opened.v1", complaint_data())

    assert event.event_type == "complaint.opened"
    assert event.is_complaint


def test_event_that_does_not_move_satisfaction_is_refused():
    assert not is_satisfaction_event("complaint.acknowledged")
    assert is_satisfaction_event("clientloop.survey.response.submitted.v1")
    with pytest.raises(ValidationFailed) as failed:
        read("complaint.acknowledged", complaint_data())

    assert list(failed.value.errors) == ["type"]


def test_event_time_is_kept_in_utc_and_must_be_timezone_aware():
    beijing = timezone(timedelta(hours=8))
    event = read("complaint.opened", complaint_data(),
                 occurred_at=datetime(2026, 3, 2, 17, 0, tzinfo=beijing))

    assert event.occurred_at == AT
    assert event.occurred_at.tzinfo == timezone.utc
    with pytest.raises(ValidationFailed) as failed:
        read("complaint.opened", complaint_data(), occurred_at=datetime(2026, 3, 2, 9, 0))
    assert list(failed.value.errors) == ["time"]


def test_event_id_is_kept_as_text_and_named_as_cause():
    event_id = uuid.UUID("12345678-1234-5678-1234-567812345678")

    event = read("complaint.opened", complaint_data(), event_id=event_id)

    assert event.cause == {"event_id": str(event_id), "event_type": "complaint.opened"}


def test_a_complaint_event_keeps_the_complaints_id_and_resolution_deadline():
    complaint_id = str(uuid.uuid4())
    event = read("complaint.reclassified", complaint_data(
        complaint_id=complaint_id.upper(), previous_severity="low",
        resolve_by="2026-03-03T01:00:00+08:00"))

    assert event.complaint_id == complaint_id
    assert event.resolve_by == datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("complaint_id, resolve_by", [
    ("id-1", "tomorrow"), ("javascript:alert(1)", "2026-03-03T01:00:00"), (42, 1772500000),
    (None, "9999-12-31T23:59:59-23:00")])
def test_a_complaint_id_or_deadline_that_is_not_one_is_dropped_and_the_event_still_applies(
        complaint_id, resolve_by):
    event = read("complaint.opened",
                 complaint_data(complaint_id=complaint_id, resolve_by=resolve_by))

    assert (event.complaint_id, event.resolve_by) == (None, None)
    assert (event.severity, event.ref) == ("high", "CMP-000042")


def test_waiting_and_resumed_are_read_but_move_no_record():
    for event_type in ("complaint.waiting", "clientloop.complaint.resumed.v1"):
        event = read(event_type, complaint_data(resolve_by="2026-03-05T09:00:00Z"))

        assert event.about_a_complaint and not event.is_complaint and not event.moves_records
        assert not is_satisfaction_event(event_type)
        assert event.resolve_by == datetime(2026, 3, 5, 9, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("comment, kept", [
    ("很好 <b>bold</b>", "很好 <b>bold</b>"), ("   ", None), (None, None), (["text"], None),
    ("x" * 6000, "x" * 5000)])
def test_a_survey_comment_is_read_as_text_at_most_5000_characters(comment, kept):
    assert read_comment({"score": 80, "comment": comment}) == kept
