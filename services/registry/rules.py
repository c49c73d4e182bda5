"""The registry's rules: every constant of the satisfaction ledger, the value record and client
care, in one place.

The constants are the fields of the domain's rules dataclasses — ``SatisfactionRules``
(``domain/satisfaction.py``), ``ValueRules`` (``domain/value.py``) and ``CareRules``
(``domain/care.py``) — whose defaults are SPEC §1.1–§1.3. ``docs/scoring.md`` names each one
with a worked example. An installation that needs other numbers builds a :class:`RegistryRules`
with its own dataclasses and passes it to ``build_context(settings, rules=...)``; the
installation-wide settings it takes from the environment are the currency, the default
language and the time zone (``CLIENTLOOP_CURRENCY``, ``CLIENTLOOP_DEFAULT_LANGUAGE``,
``CLIENTLOOP_TIMEZONE``).

Records are folds, so new rules apply to a client's whole history the next time its records are
folded: the periodic job notices clients folded under other rules (:func:`rules_fingerprint`)
and re-folds them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.registry.domain.care import DEFAULT_CARE_RULES, CareRules
from services.registry.domain.clients import ClientRules
from services.registry.domain.satisfaction import DEFAULT_SATISFACTION_RULES, SatisfactionRules
from services.registry.domain.value import DEFAULT_VALUE_RULES, ValueRules
from shared.config import Settings


@dataclass(frozen=True)
class RegistryRules:
    clients: ClientRules = field(default_factory=ClientRules)
    value: ValueRules = DEFAULT_VALUE_RULES
    default_language: str = "zh-CN"
    satisfaction: SatisfactionRules = DEFAULT_SATISFACTION_RULES
    care: CareRules = DEFAULT_CARE_RULES
    timezone: str = "UTC"
    fingerprint: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.value.tier_b > self.value.tier_a:
            raise ValueError("tier B must not start above tier A")
        if self.value.at_risk_from > self.value.healthy_from:
            raise ValueError("at_risk must not start above healthy")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{self.timezone!r} is not a known time zone") from exc
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", rules_fingerprint(self.satisfaction, self.value))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def rules_fingerprint(satisfaction: SatisfactionRules, value: ValueRules) -> str:
    """A short digest of the rules the records are folded with."""
    text = repr((sorted(satisfaction.penalties.items()), satisfaction.baseline,
                 satisfaction.feedback_weight, satisfaction.resolved_within_sla_factor,
                 satisfaction.resolved_late_factor, satisfaction.floor, satisfaction.ceiling,
                 satisfaction.places,
                 value.tier_a, value.tier_b, value.window_days, value.neutral_satisfaction,
                 value.satisfaction_weight, value.complaints_weight, value.complaints_full_marks,
                 value.serious_severities, value.serious_open_penalty, value.minor_open_penalty,
                 value.recent_complaint_penalty, value.healthy_from, value.at_risk_from,
                 sorted(value.share_at_risk.items()), value.score_places))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rules_from_settings(settings: Settings, *, satisfaction: SatisfactionRules | None = None,
                        value: ValueRules | None = None,
                        care: CareRules | None = None) -> RegistryRules:
    """The default rules with the installation's currency, language and time zone."""
    try:
        return RegistryRules(clients=ClientRules(currency=settings.currency),
                             value=value or DEFAULT_VALUE_RULES,
                             default_language=settings.default_language,
                             satisfaction=satisfaction or DEFAULT_SATISFACTION_RULES,
                             care=care or DEFAULT_CARE_RULES, timezone=settings.timezone)
    except ValueError as exc:
        raise SystemExit(f"registry settings: {exc} (CLIENTLOOP_TIMEZONE={settings.timezone!r})") from exc
