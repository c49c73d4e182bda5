"""the satisfaction ledger, reproduced on worked sequences."""
from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from services.registry.domain.satisfaction import (SatisfactionRules, current, current_changed,
                                                   fold_ledger)


def values(entries):
    return [entry.as_output()["value"] for entry in entries]


def deltas(entries):
    return [entry.as_output()["delta"] for entry in entries]


# --- feedback ------------------------------------------------------------------------------

def test_first_survey_score_sets_satisfaction_and_has_no_delta(events):
    ledger = fold_ledger([events.feedback(80)])

    assert values(ledger) == [Decimal("80.00")]
    assert ledger[0].delta is None
    assert ledger[0].reason == "Survey response scored 80: first satisfaction measure, set to 80"


def test_later_survey_score_moves_satisfaction_thirty_percent_of_the_way(events):
    ledger = fold_ledger([events.feedback(62, day=1), events.feedback(80, day=2)])

    assert values(ledger) == [Decimal("62.00"), Decimal("67.40")]
    assert ledger[1].delta == Decimal("5.4")
    assert ledger[1].reason == "Survey response scored 80: satisfaction 62 → 67.4"


def test_survey_response_without_score_adds_no_entry(events):
    ledger = fold_ledger([events.feedback(None, day=1), events.feedback(50, day=2),
                          events.feedback(None, day=3)])

    assert values(ledger) == [Decimal("50.00")]


def test_null_score_before_anything_known_leaves_satisfaction_unknown(events):
    assert current(fold_ledger([events.feedback(None)])) is None


def test_no_events_means_satisfaction_unknown():
    assert fold_ledger([]) == []
    assert current([]) is None


def test_values_are_exact_inside_and_rounded_half_up_when_shown(events):
    # 50 + 0.3 × (51.15 − 50) = 50.345: shown as 50.35, kept exact for the next step
    ledger = fold_ledger([events.feedback(50, day=1), events.feedback("51.15", day=2),
                          events.feedback(100, day=3)])

    assert ledger[1].value == Decimal("50.345")
    assert values(ledger)[1] == Decimal("50.35")
    assert ledger[1].reason == "Survey response scored 51.15: satisfaction 50 → 50.35"
    # 50.345 + 0.3 × 49.655 = 65.2415 (from the rounded 50.35 it would be 65.245 → 65.25)
    assert ledger[2].value == Decimal("65.2415")
    assert values(ledger)[2] == Decimal("65.24")


# --- complaints ----------------------------------------------------------------------------

@pytest.mark.parametrize("severity, penalty", [
    ("low", 2), ("medium", 5), ("high", 10), ("critical", 20)])
def test_complaint_opened_costs_its_severity_penalty(events, severity, penalty):
    ledger = fold_ledger([events.feedback(80, day=1), events.opened(severity, day=2)])

    assert ledger[1].delta == -penalty
    assert ledger[1].value == 80 - penalty
    assert ledger[1].reason == f"Complaint CMP-000042 ({severity}) opened: −{penalty}"


def test_complaint_while_satisfaction_unknown_starts_from_baseline_70(events):
    ledger = fold_ledger([events.opened("high")])

    assert values(ledger) == [Decimal("60.00")]
    assert deltas(ledger) == [Decimal("-10.00")]
    assert ledger[0].reason.startswith("Complaint CMP-000042 (high) opened: −10 (from the "
                                       "baseline of 70")


def test_resolved_within_sla_recovers_half_the_penalty(events):
    ledger = fold_ledger([events.feedback(62, day=1), events.opened("high", day=2),
                          events.resolved("high", within_sla=True, day=3)])

    assert values(ledger) == [Decimal("62.00"), Decimal("52.00"), Decimal("57.00")]
    assert ledger[2].reason == "Complaint CMP-000042 (high) resolved within SLA: +5"


def test_resolved_after_sla_recovers_a_quarter_of_the_penalty(events):
    ledger = fold_ledger([events.feedback(62, day=1), events.opened("high", day=2),
                          events.resolved("high", within_sla=False, day=3)])

    assert ledger[2].delta == Decimal("2.5")
    assert ledger[2].value == Decimal("54.5")
    assert ledger[2].reason == "Complaint CMP-000042 (high) resolved after its SLA: +2.5"


def test_reopened_costs_the_penalty_again(events):
    ledger = fold_ledger([events.opened("high", day=1), events.resolved("high", day=2),
                          events.reopened("high", day=3)])

    assert values(ledger) == [Decimal("60.00"), Decimal("65.00"), Decimal("55.00")]
    assert ledger[2].reason == "Complaint CMP-000042 (high) reopened: −10"


def test_reclassification_to_worse_severity_costs_the_difference(events):
    ledger = fold_ledger([events.opened("medium", day=1),
                          events.reclassified("medium", "critical", day=2)])

    assert values(ledger) == [Decimal("65.00"), Decimal("50.00")]
    assert ledger[1].reason == "Complaint CMP-000042 reclassified from medium to critical: −15"


def test_reclassification_to_milder_severity_gives_the_difference_back(events):
    ledger = fold_ledger([events.opened("critical", day=1),
                          events.reclassified("critical", "low", day=2)])

    assert ledger[1].delta == 18
    assert ledger[1].value == 68
    assert ledger[1].reason == "Complaint CMP-000042 reclassified from critical to low: +18"


def test_worked_sequence_from_feedback_through_complaint_lifecycle(events):
    ledger = fold_ledger([
        events.feedback(90, day=1),                        # 90
        events.opened("medium", day=2),                    # 85
        events.reclassified("medium", "high", day=3),      # 80
        events.resolved("high", within_sla=False, day=5),  # 82.5
        events.feedback(40, day=6),                        # 82.5 + 0.3 × (40 − 82.5) = 69.75
    ])

    assert values(ledger) == [Decimal("90.00"), Decimal("85.00"), Decimal("80.00"),
                              Decimal("82.50"), Decimal("69.75")]
    assert current(ledger) == Decimal("69.75")


# --- clamping ------------------------------------------------------------------------------

def test_satisfaction_stops_at_zero_and_delta_shows_the_real_change(events):
    ledger = fold_ledger([events.feedback(5, day=1), events.opened("critical", day=2),
                          events.resolved("critical", within_sla=True, day=3)])

    assert values(ledger) == [Decimal("5.00"), Decimal("0.00"), Decimal("10.00")]
    assert ledger[1].delta == -5
    assert ledger[1].reason == ("Complaint CMP-000042 (critical) opened: −20 "
                                "(satisfaction stops at 0)")
    # recovery starts from the clamped 0, not from −15
    assert ledger[2].delta == 10


def test_satisfaction_stops_at_one_hundred(events):
    ledger = fold_ledger([events.feedback(98, day=1),
                          events.reclassified("critical", "low", day=2)])

    assert ledger[1].value == 100
    assert ledger[1].delta == 2
    assert "satisfaction stops at 100" in ledger[1].reason


# --- order, late arrival, duplicates -------------------------------------------------------

def test_late_event_takes_its_place_in_event_time_and_values_after_it_are_recomputed(events):
    survey = events.feedback(80, day=2)
    complaint = events.opened("high", day=1)

    before = fold_ledger([survey])
    after = fold_ledger([survey, complaint])  # the complaint arrived later, happened earlier

    assert values(before) == [Decimal("80.00")]
    assert [entry.event_id for entry in after] == [complaint.event_id, survey.event_id]
    # 70 − 10 = 60, then 60 + 0.3 × (80 − 60) = 66
    assert values(after) == [Decimal("60.00"), Decimal("66.00")]
    assert after[1].reason == "Survey response scored 80: satisfaction 60 → 66"


def test_ledger_depends_only_on_which_events_happened_not_delivery_order(events):
    sequence = [events.feedback(70, day=1), events.opened("low", day=2),
                events.feedback(30, day=3), events.resolved("low", within_sla=False, day=4),
                events.reopened("low", day=5)]
    expected = fold_ledger(sequence)

    for delivery in itertools.permutations(sequence):
        assert fold_ledger(delivery) == expected


def test_events_at_the_same_instant_are_ordered_by_event_id(events):
    at = events.at(1)
    later_id = events.feedback(20, at=at, event_id="b-event")
    earlier_id = events.feedback(80, at=at, event_id="a-event")

    ledger = fold_ledger([later_id, earlier_id])

    assert [entry.event_id for entry in ledger] == ["a-event", "b-event"]
    assert values(ledger) == [Decimal("80.00"), Decimal("62.00")]


def test_same_event_applied_twice_changes_nothing(events):
    complaint = events.opened("critical", day=1)
    once = fold_ledger([events.feedback(50, day=0, event_id="f"), complaint])

    twice = fold_ledger([events.feedback(50, day=0, event_id="f"), complaint, complaint])

    assert twice == once
    assert len(twice) == 2


def test_resolution_arriving_before_its_opening_is_applied_alone_then_folded_in_order(events):
    opening = events.opened("high", day=1)
    resolution = events.resolved("high", within_sla=True, day=2)

    only_resolution = fold_ledger([resolution])
    both = fold_ledger([resolution, opening])

    # applied with its own severity, from the baseline: 70 + 5
    assert values(only_resolution) == [Decimal("75.00")]
    assert only_resolution[0].reason.startswith(
        "Complaint CMP-000042 (high) resolved within SLA: +5")
    # once the opening is there: 70 − 10 = 60, then + 5 = 65
    assert values(both) == [Decimal("60.00"), Decimal("65.00")]


# --- configuration, change detection -------------------------------------------------------

def test_rules_are_configurable(events):
    rules = SatisfactionRules(baseline=50, feedback_weight="0.5",
                              penalties={"low": 1, "medium": 3, "high": 6, "critical": 12},
                              resolved_within_sla_factor=1)
    ledger = fold_ledger([events.opened("high", day=1), events.resolved("high", day=2),
                          events.feedback(100, day=3)], rules)

    assert values(ledger) == [Decimal("44.00"), Decimal("50.00"), Decimal("75.00")]


def test_rules_need_a_penalty_for_every_severity():
    with pytest.raises(ValueError, match="critical"):
        SatisfactionRules(penalties={"low": 2, "medium": 5, "high": 10})


def test_satisfaction_change_is_detected_when_current_value_moves(events):
    first = events.feedback(60, day=1)
    before = fold_ledger([first])

    assert current_changed(before, fold_ledger([first, events.feedback(70, day=2)]))
    assert current_changed([], before)
    assert not current_changed([], [])


def test_change_invisible_at_two_decimals_is_not_a_change(events):
    first = events.feedback(60, day=1)
    before = fold_ledger([first])
    # 60 + 0.3 × 0.01 = 60.003, shown as 60.00 like before
    after = fold_ledger([first, events.feedback("60.01", day=2)])

    assert current(after) != current(before)
    assert not current_changed(before, after)


def test_duplicate_event_is_not_a_change(events):
    first = events.feedback(60, day=1)
    before = fold_ledger([first])

    assert not current_changed(before, fold_ledger([first, first]))
