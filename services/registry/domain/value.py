"""The value record: what a client is worth, how healthy the relationship is, what is at risk
.

* ``tier`` from the annual value: A from 1,000,000, B from 100,000, else C. A client with no
  annual value entered is tier C, its amount taken as 0 (so nothing is at risk): tier C is
  "not known to be worth much", and every client has a tier the complaints SLA can use.
* ``health_score`` = 0.6 × S′ + 0.4 × C rounded half-up to 0.1, where S′ is S (70 while S is
  unknown) and C = max(0, 100 − (25 × open high-or-critical + 10 × open low-or-medium
  + 5 × complaints opened in the last 90 days)). S is used exact, not as shown.
* ``health_band`` from the *rounded* score: healthy from 70, at_risk from 40, else critical.
* ``value_at_risk`` = annual amount × 0 / 0.5 / 1 by band, exact (round it to show it).

Every number above is a field of :class:`ValueRules`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from .events import SEVERITIES, SatisfactionEvent
from .money import Money, money_output
from .open_complaints import (OpenComplaints, complaints_in_window, fold_open_complaints,
                              opened_times)
from .rounding import round_half_up, to_decimal

__all__ = [
    "TIERS", "HEALTH_BANDS", "ValueRules", "ValueRecord", "OpenComplaints", "tier",
    "complaints_90d", "health_score", "health_band", "value_at_risk", "compute_value_record",
    "value_changed",
]

TIERS = ("A", "B", "C")
HEALTHY, AT_RISK, CRITICAL = "healthy", "at_risk", "critical"
HEALTH_BANDS = (HEALTHY, AT_RISK, CRITICAL)


def _default_share_at_risk() -> dict[str, str]:
    return {HEALTHY: "0", AT_RISK: "0.5", CRITICAL: "1"}


@dataclass(frozen=True)
class ValueRules:
    """Thresholds and weights of the value record. Numbers are kept as Decimal."""

    tier_a: Decimal = Decimal(1_000_000)
    tier_b: Decimal = Decimal(100_000)
    window_days: int = 90
    neutral_satisfaction: Decimal = Decimal(70)  # S′ while S is unknown
    satisfaction_weight: Decimal = Decimal("0.6")
    complaints_weight: Decimal = Decimal("0.4")
    complaints_full_marks: Decimal = Decimal(100)
    serious_severities: tuple[str, ...] = ("high", "critical")
    serious_open_penalty: Decimal = Decimal(25)
    minor_open_penalty: Decimal = Decimal(10)
    recent_complaint_penalty: Decimal = Decimal(5)
    healthy_from: Decimal = Decimal(70)
    at_risk_from: Decimal = Decimal(40)
    share_at_risk: Mapping[str, Decimal] = field(default_factory=_default_share_at_risk)
    score_places: int = 1

    def __post_init__(self) -> None:
        for name in ("tier_a", "tier_b", "neutral_satisfaction", "satisfaction_weight",
                     "complaints_weight", "complaints_full_marks", "serious_open_penalty",
                     "minor_open_penalty", "recent_complaint_penalty", "healthy_from",
                     "at_risk_from"):
            object.__setattr__(self, name, to_decimal(getattr(self, name)))
        missing = [band for band in HEALTH_BANDS if band not in self.share_at_risk]
        if missing:
            raise ValueError(f"no share at risk for bands: {', '.join(missing)}")
        shares = {band: to_decimal(share) for band, share in self.share_at_risk.items()}
        object.__setattr__(self, "share_at_risk", MappingProxyType(shares))
        object.__setattr__(self, "serious_severities", tuple(self.serious_severities))

    def __hash__(self) -> int:
        return hash((self.tier_a, self.tier_b, self.window_days, self.neutral_satisfaction,
                     self.satisfaction_weight, self.complaints_weight,
                     self.complaints_full_marks, self.serious_severities,
                     self.serious_open_penalty, self.minor_open_penalty,
                     self.recent_complaint_penalty, self.healthy_from, self.at_risk_from,
                     tuple(sorted(self.share_at_risk.items())), self.score_places))

    @property
    def minor_severities(self) -> tuple[str, ...]:
        return tuple(s for s in SEVERITIES if s not in self.serious_severities)


DEFAULT_VALUE_RULES = ValueRules()


def _amount(annual_value: Money | Decimal | None) -> Decimal:
    if annual_value is None:
        return Decimal(0)
    if isinstance(annual_value, Money):
        return annual_value.amount
    return to_decimal(annual_value)


def tier(annual_value: Money | Decimal | None, rules: ValueRules = DEFAULT_VALUE_RULES) -> str:
    """"A", "B" or "C"; no annual value counts as an amount of 0 (tier C)."""
    amount = _amount(annual_value)
    if amount >= rules.tier_a:
        return "A"
    if amount >= rules.tier_b:
        return "B"
    return "C"


def complaints_90d(opened: Iterable[datetime], now: datetime,
                   rules: ValueRules = DEFAULT_VALUE_RULES) -> int:
    """Complaints opened within the window before ``now``: now − 90 days ≤ opened_at ≤ now."""
    return complaints_in_window(sorted(opened), now, rules.window_days)


def health_score(satisfaction: Decimal | None, open_complaints: OpenComplaints | Mapping[str, int],
                 recent_complaints: int, rules: ValueRules = DEFAULT_VALUE_RULES) -> Decimal:
    """0.6 × S′ + 0.4 × C, rounded half-up to 0.1 (see the module docstring)."""
    if not isinstance(open_complaints, OpenComplaints):
        open_complaints = OpenComplaints(**open_complaints)
    s_prime = rules.neutral_satisfaction if satisfaction is None else satisfaction
    penalty = (rules.serious_open_penalty * open_complaints.count(rules.serious_severities)
               + rules.minor_open_penalty * open_complaints.count(rules.minor_severities)
               + rules.recent_complaint_penalty * recent_complaints)
    complaints_component = max(Decimal(0), rules.complaints_full_marks - penalty)
    score = rules.satisfaction_weight * s_prime + rules.complaints_weight * complaints_component
    return round_half_up(score, rules.score_places)


def health_band(score: Decimal, rules: ValueRules = DEFAULT_VALUE_RULES) -> str:
    """The band of a (rounded) health score: healthy ≥ 70, at_risk ≥ 40, else critical."""
    if score >= rules.healthy_from:
        return HEALTHY
    if score >= rules.at_risk_from:
        return AT_RISK
    return CRITICAL


def value_at_risk(annual_value: Money | Decimal | None, band: str,
                  rules: ValueRules = DEFAULT_VALUE_RULES) -> Decimal:
    """The part of the annual amount the band puts at risk, exact (no annual value: 0)."""
    return _amount(annual_value) * rules.share_at_risk[band]


@dataclass(frozen=True)
class ValueRecord:
    """A client's value record as of one moment. Numbers exact except ``health_score``,
    which the rules define as rounded."""

    annual_value: Money | None
    tier: str
    open_complaints: OpenComplaints
    complaints_90d: int
    satisfaction: Decimal | None
    health_score: Decimal
    health_band: str
    value_at_risk: Decimal

    def as_output(self, currency: str, satisfaction_places: int = 2) -> dict[str, Any]:
        """The ``current`` object of ``GET …/value``; ``currency`` is the installation's."""
        return {
            "annual_value": None if self.annual_value is None else self.annual_value.as_output(),
            "tier": self.tier,
            "open_complaints": self.open_complaints.as_dict(),
            "complaints_90d": self.complaints_90d,
            "satisfaction": (None if self.satisfaction is None
                             else round_half_up(self.satisfaction, satisfaction_places)),
            "health_score": self.health_score,
            "health_band": self.health_band,
            "value_at_risk": money_output(self.value_at_risk, currency),
        }


def value_record(annual_value: Money | None, satisfaction: Decimal | None,
                 open_complaints: OpenComplaints, recent_complaints: int,
                 rules: ValueRules = DEFAULT_VALUE_RULES) -> ValueRecord:
    """The record from its already-folded inputs."""
    score = health_score(satisfaction, open_complaints, recent_complaints, rules)
    band = health_band(score, rules)
    return ValueRecord(
        annual_value=annual_value,
        tier=tier(annual_value, rules),
        open_complaints=open_complaints,
        complaints_90d=recent_complaints,
        satisfaction=satisfaction,
        health_score=score,
        health_band=band,
        value_at_risk=value_at_risk(annual_value, band, rules),
    )


def compute_value_record(annual_value: Money | None, satisfaction: Decimal | None,
                         complaint_events: Iterable[SatisfactionEvent], now: datetime,
                         rules: ValueRules = DEFAULT_VALUE_RULES) -> ValueRecord:
    """The value record at ``now`` from the annual value, the current S and the applied
    complaint events (other events among them are ignored; duplicates count once)."""
    events = list(complaint_events)
    return value_record(annual_value, satisfaction, fold_open_complaints(events),
                        complaints_90d(opened_times(events), now, rules), rules)


def value_changed(previous: ValueRecord | None, current: ValueRecord) -> bool:
    """Whether ``client.value.changed`` is due: tier, health score or band differ (or there
    was no record before)."""
    if previous is None:
        return True
    return (previous.tier, previous.health_score, previous.health_band) != \
        (current.tier, current.health_score, current.health_band)
