"""The configurable constants refuse values that would break the rules."""
from __future__ import annotations

from datetime import timedelta

import pytest

from services.complaints.domain.rules import (
    DEFAULT_RULES, ComplaintRules, SeverityTargets, SlaPolicy,
)

HOUR = timedelta(hours=1)


def test_the_defaults_are_the_spec_values():
    assert DEFAULT_RULES.reopen_window == timedelta(days=30)
    assert DEFAULT_RULES.auto_close_after == timedelta(days=7)
    assert DEFAULT_RULES.sla.tier_factors == {"A": 0.5}
    assert DEFAULT_RULES.sla.targets["medium"] == SeverityTargets(8 * HOUR, timedelta(days=5))


def full_targets(**overrides):
    targets = {severity: SeverityTargets(HOUR, 24 * HOUR)
               for severity in ("low", "medium", "high", "critical")}
    targets.update(overrides)
    return targets


@pytest.mark.parametrize("policy", [
    lambda: SlaPolicy(targets=full_targets(low=SeverityTargets(timedelta(0), HOUR))),
    lambda: SlaPolicy(targets=full_targets(high=SeverityTargets(HOUR, -HOUR))),
    lambda: SlaPolicy(tier_factors={"A": 0}),
], ids=["zero-respond", "negative-resolve", "zero-factor"])
def test_an_sla_policy_needs_positive_targets_and_factors(policy):
    with pytest.raises(ValueError):
        policy()


def test_the_auto_close_delay_must_be_positive():
    with pytest.raises(ValueError):
        ComplaintRules(auto_close_after=timedelta(0))


def test_a_policy_cannot_be_changed_after_it_is_built():
    targets = full_targets()
    policy = SlaPolicy(targets=targets)

    targets["low"] = SeverityTargets(HOUR * 100, HOUR * 100)

    assert policy.targets["low"] == SeverityTargets(HOUR, 24 * HOUR)
    with pytest.raises(TypeError):
        policy.targets["low"] = SeverityTargets(HOUR, HOUR)
