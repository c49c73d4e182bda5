"""communication plans, interactions, and when follow-up is due."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from services.registry.domain.care import (CareRules, CommunicationPlan, Interaction, is_due,
                                           next_due_on)
from shared.errors import ValidationFailed

TODAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def plan(**overrides):
    fields = {"goal": "Keep the sponsor informed of milestones", "channel": "meeting",
              "frequency_days": 14, "owner": "Li Wei", "starts_on": TODAY}
    fields.update(overrides)
    return CommunicationPlan.create(**fields, today=TODAY)


def interaction(**overrides):
    fields = {"channel": "phone", "summary": "Talked through the delivery delay.",
              "occurred_at": NOW - timedelta(hours=1), "staff": "Li Wei"}
    fields.update(overrides)
    rules = fields.pop("rules", CareRules())
    return Interaction.create(**fields, now=NOW, rules=rules)


def errors_of(build, **overrides):
    with pytest.raises(ValidationFailed) as failed:
        build(**overrides)
    return failed.value.errors


# --- plans ---------------------------------------------------------------------------------

def test_plan_starts_on_the_day_it_is_saved_by_default():
    assert plan(starts_on=None).starts_on == TODAY


@pytest.mark.parametrize("field, value", [
    ("channel", "fax"), ("frequency_days", 0), ("frequency_days", 1.5),
    ("frequency_days", True), ("goal", ""), ("goal", "   "), ("owner", None),
    ("starts_on", "2026-03-02"), ("starts_on", NOW), ("frequency_days", 367)])
def test_plan_field_breaking_a_rule_is_named(field, value):
    assert list(errors_of(plan, **{field: value})) == [field]


def test_all_broken_plan_fields_are_reported_at_once():
    assert set(errors_of(plan, channel="fax", frequency_days=0, goal="")) == {
        "channel", "frequency_days", "goal"}


def test_plan_built_directly_still_refuses_a_zero_frequency():
    with pytest.raises(ValidationFailed):
        CommunicationPlan("goal", "email", 0, "Li Wei", TODAY)


# --- due dates -----------------------------------------------------------------------------

def test_without_interactions_follow_up_is_due_frequency_days_after_the_start():
    weekly = plan(frequency_days=7)

    assert next_due_on(weekly, None) == date(2026, 3, 9)
    assert not is_due(weekly, None, date(2026, 3, 8))
    assert is_due(weekly, None, date(2026, 3, 9))
    assert is_due(weekly, None, date(2026, 3, 20))


def test_due_date_counts_from_the_last_interaction():
    weekly = plan(frequency_days=7)

    assert next_due_on(weekly, date(2026, 3, 5)) == date(2026, 3, 12)
    assert not is_due(weekly, date(2026, 3, 5), date(2026, 3, 11))
    assert is_due(weekly, date(2026, 3, 5), date(2026, 3, 12))


def test_daily_plan_is_due_the_day_after_contact():
    daily = plan(frequency_days=1)

    assert not is_due(daily, TODAY, TODAY)
    assert is_due(daily, TODAY, TODAY + timedelta(days=1))


def test_plan_is_never_due_before_it_starts():
    starts_next_month = plan(frequency_days=7, starts_on=date(2026, 4, 1))
    long_ago = date(2025, 1, 1)

    assert next_due_on(starts_next_month, long_ago) == date(2026, 4, 1)
    assert not is_due(starts_next_month, long_ago, date(2026, 3, 31))
    assert is_due(starts_next_month, long_ago, date(2026, 4, 1))


def test_due_date_crosses_month_and_leap_day():
    monthly = plan(frequency_days=30, starts_on=date(2028, 2, 1))

    assert next_due_on(monthly, None) == date(2028, 3, 2)


# --- interactions --------------------------------------------------------------------------

def test_interaction_time_is_kept_in_utc():
    beijing = timezone(timedelta(hours=8))

    logged = interaction(occurred_at=datetime(2026, 3, 2, 16, 0, tzinfo=beijing))

    assert logged.occurred_at == datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


def test_interaction_a_little_ahead_of_the_server_clock_is_accepted():
    interaction(occurred_at=NOW + timedelta(minutes=5))


def test_interaction_in_the_future_beyond_the_clock_skew_is_refused():
    assert list(errors_of(interaction, occurred_at=NOW + timedelta(minutes=5, seconds=1))) \
        == ["occurred_at"]
    assert list(errors_of(interaction, occurred_at=NOW + timedelta(minutes=2),
                          rules=CareRules(clock_skew=timedelta(minutes=1)))) == ["occurred_at"]


def test_interaction_time_without_time_zone_is_refused():
    assert list(errors_of(interaction, occurred_at=datetime(2026, 3, 1, 9, 0))) \
        == ["occurred_at"]


def test_summary_is_between_1_and_5000_characters():
    interaction(summary="x" * 5000)
    assert list(errors_of(interaction, summary="x" * 5001)) == ["summary"]
    assert list(errors_of(interaction, summary="")) == ["summary"]


def test_interaction_channel_must_be_known():
    for channel in ("meeting", "email", "phone", "im", "visit", "other"):
        interaction(channel=channel)
    assert list(errors_of(interaction, channel="letter")) == ["channel"]
