"""Reading feedback and complaint events off the bus."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from services.registry.domain.events import SatisfactionEvent, is_satisfaction_event
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
