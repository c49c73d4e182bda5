"""tier, open complaints, the 90-day window, health score and band, value at risk."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from services.registry.domain.money import Money
from services.registry.domain.open_complaints import OpenComplaints, fold_open_complaints
from services.registry.domain.value import (ValueRules, complaints_90d, compute_value_record,
                                            health_band, health_score, tier, value_at_risk,
                                            value_changed)


def cny(amount):
    return Money(Decimal(amount), "CNY")


def open_counts(**overrides):
    return OpenComplaints(**overrides)


# --- tier ----------------------------------------------------------------------------------

@pytest.mark.parametrize("amount, expected", [
    ("0.00", "C"), ("99999.99", "C"), ("100000.00", "B"), ("999999.99", "B"),
    ("1000000.00", "A"), ("25000000.00", "A")])
def test_tier_thresholds_are_inclusive(amount, expected):
    assert tier(cny(amount)) == expected


def test_client_without_annual_value_is_tier_c():
    assert tier(None) == "C"


def test_tier_thresholds_are_configurable():
    rules = ValueRules(tier_a=500_000, tier_b=50_000)

    assert [tier(cny(a), rules) for a in ("49999.99", "50000", "500000")] == ["C", "B", "A"]


# --- open complaints -----------------------------------------------------------------------

def test_open_complaints_count_openings_reopenings_and_resolutions_by_severity(events):
    counts = fold_open_complaints([
        events.opened("high", ref="CMP-1", day=1),
        events.opened("low", ref="CMP-2", day=2),
        events.resolved("high", ref="CMP-1", day=3),
        events.reopened("high", ref="CMP-1", day=4),
        events.opened("critical", ref="CMP-3", day=5),
    ])

    assert counts == open_counts(low=1, high=1, critical=1)
    assert counts.as_dict() == {"low": 1, "medium": 0, "high": 1, "critical": 1}


def test_reclassification_moves_an_open_complaint_between_severities(events):
    counts = fold_open_complaints([events.opened("medium", day=1),
                                   events.reclassified("medium", "critical", day=2)])

    assert counts == open_counts(critical=1)


def test_resolution_alone_never_takes_a_count_below_zero(events):
    assert fold_open_complaints([events.resolved("high", day=2)]) == open_counts()


def test_resolution_arriving_before_its_opening_nets_to_zero_once_both_are_here(events):
    resolution = events.resolved("high", day=2)
    opening = events.opened("high", day=1)

    assert fold_open_complaints([resolution, opening]) == open_counts()
    assert fold_open_complaints([resolution, opening, events.opened("high", day=3)]) \
        == open_counts(high=1)


def test_reclassification_before_its_opening_arrived_shows_the_complaint_open(events):
    reclassification = events.reclassified("medium", "high", day=2)

    assert fold_open_complaints([reclassification]) == open_counts(high=1)
    assert fold_open_complaints([reclassification, events.opened("medium", day=1)]) \
        == open_counts(high=1)


def test_duplicate_complaint_events_count_once(events):
    opening = events.opened("high", day=1)

    assert fold_open_complaints([opening, opening]) == open_counts(high=1)


def test_feedback_events_do_not_touch_complaint_counts(events):
    assert fold_open_complaints([events.feedback(10)]) == open_counts()


# --- the 90-day window ---------------------------------------------------------------------

def test_complaint_opened_exactly_90_days_before_now_still_counts(events):
    now = events.at(0)

    assert complaints_90d([now - timedelta(days=90)], now) == 1
    assert complaints_90d([now - timedelta(days=90, microseconds=1)], now) == 0


def test_window_counts_openings_up_to_and_including_now_only(events):
    now = events.at(100)
    opened = [events.at(5), now, events.at(60), now + timedelta(seconds=1), events.at(9)]

    # at(9) is 91 days before now; at(5) is older; the one after now has not happened yet
    assert complaints_90d(opened, now) == 2


def test_window_length_is_configurable(events):
    now = events.at(30)

    assert complaints_90d([events.at(0), events.at(1)], now, ValueRules(window_days=29)) == 1


# --- health score and band -----------------------------------------------------------------

def test_health_score_without_satisfaction_or_complaints_is_82():
    # 0.6 × 70 + 0.4 × 100
    assert health_score(None, open_counts(), 0) == Decimal("82.0")


def test_health_score_weighs_open_and_recent_complaints():
    # C = 100 − (25 × 2 serious + 10 × 1 minor + 5 × 3 recent) = 25; 0.6 × 70 + 0.4 × 25 = 52
    counts = open_counts(low=1, high=1, critical=1)

    assert health_score(None, counts, 3) == Decimal("52.0")


def test_complaints_part_of_health_score_never_goes_below_zero():
    assert health_score(Decimal(80), open_counts(critical=5), 0) == Decimal("48.0")


def test_health_score_accepts_counts_as_a_mapping():
    assert health_score(Decimal(50), {"low": 0, "medium": 2, "high": 0, "critical": 0}, 0) \
        == Decimal("62.0")


def test_health_score_rounds_half_up_to_one_decimal():
    # 0.6 × 49.75 + 40 = 69.85: half-up gives 69.9 (banker's rounding would give 69.8)
    assert health_score(Decimal("49.75"), open_counts(), 0) == Decimal("69.9")
    # 0.6 × 49.25 + 40 = 69.55 → 69.6
    assert health_score(Decimal("49.25"), open_counts(), 0) == Decimal("69.6")


def test_health_score_uses_exact_satisfaction_not_the_shown_one():
    # S = 49.9149 shows as 49.91; exact: 29.94894 + 40 = 69.94894 → 69.9;
    # 49.9167 shows as 49.92 and gives 69.95002 → 70.0
    assert health_score(Decimal("49.9149"), open_counts(), 0) == Decimal("69.9")
    assert health_score(Decimal("49.9167"), open_counts(), 0) == Decimal("70.0")


@pytest.mark.parametrize("score, band", [
    ("100", "healthy"), ("70.0", "healthy"), ("69.9", "at_risk"), ("40.0", "at_risk"),
    ("39.9", "critical"), ("0", "critical")])
def test_health_band_boundaries(score, band):
    assert health_band(Decimal(score)) == band


def test_band_comes_from_the_rounded_score(events):
    # 0.6 × 49.92 + 40 = 69.952, rounded 70.0: healthy
    current = compute_value_record(cny("200000"), Decimal("49.92"), [], events.at(0))

    assert current.health_score == Decimal("70.0")
    assert current.health_band == "healthy"


def test_band_thresholds_are_configurable():
    rules = ValueRules(healthy_from=80, at_risk_from=50)

    assert [health_band(Decimal(s), rules) for s in ("80", "79.9", "50", "49.9")] \
        == ["healthy", "at_risk", "at_risk", "critical"]


# --- value at risk -------------------------------------------------------------------------

@pytest.mark.parametrize("band, expected", [
    ("healthy", "0"), ("at_risk", "62500.005"), ("critical", "125000.01")])
def test_value_at_risk_is_the_bands_share_of_the_annual_amount(band, expected):
    assert value_at_risk(cny("125000.01"), band) == Decimal(expected)


def test_nothing_is_at_risk_without_an_annual_value():
    assert value_at_risk(None, "critical") == 0


# --- the whole record ----------------------------------------------------------------------

def test_value_record_brings_tier_complaints_satisfaction_and_risk_together(events):
    complaints = [events.opened("high", ref="CMP-1", day=1),
                  events.opened("low", ref="CMP-2", day=2),
                  events.resolved("low", ref="CMP-2", day=3),
                  events.feedback(20, day=3)]

    current = compute_value_record(cny("1200000.00"), Decimal("55.5"), complaints,
                                   events.at(10))

    # C = 100 − (25 × 1 + 5 × 2) = 65; 0.6 × 55.5 + 0.4 × 65 = 59.3
    assert current.tier == "A"
    assert current.open_complaints == open_counts(high=1)
    assert current.complaints_90d == 2
    assert current.health_score == Decimal("59.3")
    assert current.health_band == "at_risk"
    assert current.value_at_risk == Decimal("600000")
    assert current.as_output("CNY") == {
        "annual_value": {"amount": "1200000.00", "currency": "CNY"},
        "tier": "A",
        "open_complaints": {"low": 0, "medium": 0, "high": 1, "critical": 0},
        "complaints_90d": 2,
        "satisfaction": Decimal("55.50"),
        "health_score": Decimal("59.3"),
        "health_band": "at_risk",
        "value_at_risk": {"amount": "600000.00", "currency": "CNY"},
    }


def test_client_without_annual_value_or_satisfaction_has_a_full_record(events):
    current = compute_value_record(None, None, [], events.at(0))

    assert (current.tier, current.health_score, current.health_band) == ("C", Decimal("82.0"),
                                                                         "healthy")
    assert current.as_output("CNY")["annual_value"] is None
    assert current.as_output("CNY")["value_at_risk"] == {"amount": "0.00", "currency": "CNY"}


def test_complaints_leave_the_recent_count_as_the_window_moves(events):
    complaints = [events.opened("low", day=0), events.resolved("low", day=1)]

    on_day_90 = compute_value_record(None, None, complaints, events.at(90))
    after = compute_value_record(None, None, complaints, events.at(90, microseconds=1))

    assert (on_day_90.complaints_90d, after.complaints_90d) == (1, 0)
    assert (on_day_90.health_score, after.health_score) == (Decimal("80.0"), Decimal("82.0"))


# --- what counts as a change ---------------------------------------------------------------

def test_value_change_is_a_change_of_tier_score_or_band(events):
    now = events.at(0)
    base = compute_value_record(cny("150000"), Decimal(60), [], now)

    assert value_changed(None, base)
    assert not value_changed(base, compute_value_record(cny("150000"), Decimal(60), [], now))
    assert value_changed(base, compute_value_record(cny("1500000"), Decimal(60), [], now))
    assert value_changed(base, compute_value_record(cny("150000"), Decimal(61), [], now))
    assert value_changed(base, compute_value_record(
        cny("150000"), Decimal(60), [events.opened("critical", day=0)], now))


def test_annual_value_change_within_the_same_tier_and_band_is_not_a_value_change(events):
    now = events.at(0)
    before = compute_value_record(cny("150000"), Decimal(10), [], now)
    after = compute_value_record(cny("160000"), Decimal(10), [], now)

    assert before.value_at_risk != after.value_at_risk
    assert not value_changed(before, after)
