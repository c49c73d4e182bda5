"""The effect of an improvement action on synthetic complaint histories, the workflow table,
and the one normalisation of root causes."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.complaints.domain.improvement import (
    allowed_improvement_actions, effect, grouped_root_causes, normalise_root_cause,
    plan_improvement)
from shared.errors import ActionNotAllowed, ValidationFailed

STARTED = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DONE = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


def test_before_window_is_the_90_days_before_start_lower_edge_inclusive():
    history = [STARTED - 90 * DAY,             # counted: exactly 90 days before
               STARTED - 90 * DAY - SECOND,    # too early
               STARTED - SECOND,               # counted
               STARTED,                        # not before any more
               STARTED + DAY]                  # between start and done: neither
    result = effect(STARTED, None, DONE, history)
    assert result == {"before": {"complaints": 2, "days": 90.0, "per_30_days": 0.67},
                      "after": None, "change_percent": None}


def test_after_is_null_until_14_days_have_passed_since_done():
    history = [STARTED - DAY]
    assert effect(STARTED, DONE, DONE + 14 * DAY - SECOND, history)["after"] is None
    after = effect(STARTED, DONE, DONE + 14 * DAY, history)["after"]
    assert after == {"complaints": 0, "days": 14.0, "per_30_days": 0.0}


def test_after_window_covers_at_most_90_days_from_done():
    history = [DONE,                         # counted: the lower edge
               DONE + 90 * DAY - SECOND,     # counted
               DONE + 90 * DAY,              # beyond the window
               DONE - SECOND]                # before done: not after
    result = effect(STARTED, DONE, DONE + 200 * DAY, history)
    assert result["after"] == {"complaints": 2, "days": 90.0, "per_30_days": 0.67}


def test_known_rates_and_their_change():
    # 9 complaints in the 90 days before (3 per 30 days), 2 in the 20 days since (3 per 30)
    before = [STARTED - (i * 10 + 1) * DAY for i in range(9)]
    after = [DONE + DAY, DONE + 5 * DAY]
    result = effect(STARTED, DONE, DONE + 20 * DAY, before + after)
    assert result == {"before": {"complaints": 9, "days": 90.0, "per_30_days": 3.0},
                      "after": {"complaints": 2, "days": 20.0, "per_30_days": 3.0},
                      "change_percent": 0.0}
    fewer = effect(STARTED, DONE, DONE + 30 * DAY, before + [DONE + DAY])
    assert fewer["after"]["per_30_days"] == 1.0
    assert fewer["change_percent"] == -66.67


def test_no_complaints_before_makes_the_change_null():
    result = effect(STARTED, DONE, DONE + 30 * DAY, [DONE + DAY])
    assert result["before"]["per_30_days"] == 0.0
    assert result["after"]["complaints"] == 1
    assert result["change_percent"] is None


def test_no_effect_before_the_action_started():
    assert effect(None, None, DONE, [STARTED - DAY]) is None


@pytest.mark.parametrize("spelling", ["Late  Delivery", " late delivery", "LATE\tdelivery "])
def test_root_causes_normalise_alike(spelling):
    assert normalise_root_cause(spelling) == "late delivery"


def test_grouped_root_causes_show_the_most_frequent_spelling():
    assert grouped_root_causes([("late delivery", 1), ("Late  Delivery", 2), ("Defect", 2),
                                ("defect", 1)]) == {"Defect": 3, "Late  Delivery": 3}
    assert list(grouped_root_causes([("b", 1), ("a", 2)])) == ["a", "b"]


def _planned():
    improvement, events = plan_improvement(
        improvement_id=uuid.uuid4(), fields={"title": "Fix", "root_cause": "Defect"},
        by="li.wei", now=STARTED)
    return improvement, events


def test_workflow_table_and_refusal():
    assert [str(a) for a in allowed_improvement_actions("planned")] == ["start", "cancel"]
    assert [str(a) for a in allowed_improvement_actions("done")] == [
        "judge_effective", "judge_ineffective"]
    improvement, events = _planned()
    assert events[0].type == "improvement.created" and events[0].subject == improvement.id
    with pytest.raises(ActionNotAllowed) as refused:
        improvement.act("complete", None, "li.wei", STARTED)
    assert refused.value.allowed_actions == ["start", "cancel"]
    with pytest.raises(ValidationFailed):
        improvement.act("finish", None, "li.wei", STARTED)
    [changed] = improvement.act("start", None, "li.wei", STARTED + DAY)
    assert (changed.data["from_status"], changed.data["status"]) == ("planned", "in_progress")
    assert improvement.started_at == STARTED + DAY and improvement.version == 2
