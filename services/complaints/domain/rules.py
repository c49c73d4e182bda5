"""Every number the complaint rules depend on, with the documented defaults.

The service builds one :class:`ComplaintRules` from its configuration at start-up and passes it
to the domain; the domain never reads configuration itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Mapping

from .vocabulary import SEVERITIES


@dataclass(frozen=True)
class SeverityTargets:
    """How soon a complaint of one severity must be acknowledged and resolved."""

    respond: timedelta
    resolve: timedelta

    def scaled(self, factor: float) -> SeverityTargets:
        return SeverityTargets(respond=self.respond * factor, resolve=self.resolve * factor)


def _spec_targets() -> Mapping[str, SeverityTargets]:
    return {
        "critical": SeverityTargets(respond=timedelta(hours=1), resolve=timedelta(hours=24)),
        "high": SeverityTargets(respond=timedelta(hours=4), resolve=timedelta(hours=72)),
        "medium": SeverityTargets(respond=timedelta(hours=8), resolve=timedelta(days=5)),
        "low": SeverityTargets(respond=timedelta(hours=24), resolve=timedelta(days=10)),
    }


def _spec_tier_factors() -> Mapping[str, float]:
    return {"A": 0.5}


@dataclass(frozen=True)
class SlaPolicy:
    """SLA targets by severity, in calendar time, and the factor applied per client tier.

    A tier missing from ``tier_factors`` (or an unknown tier, ``None``) gets factor 1.
    """

    targets: Mapping[str, SeverityTargets] = field(default_factory=_spec_targets)
    tier_factors: Mapping[str, float] = field(default_factory=_spec_tier_factors)

    def __post_init__(self) -> None:
        missing = [severity for severity in SEVERITIES if severity not in self.targets]
        if missing:
            raise ValueError(f"SLA targets missing for severities: {', '.join(missing)}")
        for severity, target in self.targets.items():
            if target.respond <= timedelta(0) or target.resolve <= timedelta(0):
                raise ValueError(f"SLA targets for {severity!r} must be positive")
        for tier, factor in self.tier_factors.items():
            if not factor > 0:
                raise ValueError(f"SLA factor for tier {tier!r} must be positive")
        object.__setattr__(self, "targets", MappingProxyType(dict(self.targets)))
        object.__setattr__(self, "tier_factors", MappingProxyType(dict(self.tier_factors)))

    def targets_for(self, severity: str, tier: str | None) -> SeverityTargets:
        return self.targets[severity].scaled(self.tier_factors.get(tier or "", 1.0))


@dataclass(frozen=True)
class TextLimits:
    """Maximum lengths, in characters, of the free-text fields."""

    title: int = 200
    description: int = 10_000
    remedy_sought: int = 2_000
    assignee: int = 200
    reason: int = 2_000
    summary: int = 5_000
    root_cause: int = 200
    note: int = 5_000


@dataclass(frozen=True)
class ComplaintRules:
    """The complaint workflow's configurable constants."""

    sla: SlaPolicy = field(default_factory=SlaPolicy)
    reopen_window: timedelta = timedelta(days=30)
    """A resolved or closed complaint may be reopened up to this long after its resolution."""
    auto_close_after: timedelta = timedelta(days=7)
    """A resolved complaint nobody reopened closes by itself this long after its resolution."""
    text_limits: TextLimits = field(default_factory=TextLimits)

    def __post_init__(self) -> None:
        if self.reopen_window < timedelta(0):
            raise ValueError("reopen_window must not be negative")
        if self.auto_close_after <= timedelta(0):
            raise ValueError("auto_close_after must be positive")


DEFAULT_RULES = ComplaintRules()
