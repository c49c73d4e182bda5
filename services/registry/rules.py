"""The registry's rules: every constant of the satisfaction ledger, the value record and client
care, in one place.

The constants are the fields of the domain's rules dataclasses — ``SatisfactionRules``
(``domain/satisfaction.py``), ``ValueRules`` (``domain/value.py``) and ``CareRules``
(``domain/care.py``) — whose defaults are the documented ones. ``docs/scoring.md`` names each one
with a worked example. An installation that needs other numbers builds a :class:`RegistryRules`
with its own dataclasses and passes it to ``build_context(settings, rules=...)``; the
installation-wide settings it takes from the environment are the currency, the default
language and the time zone (``CLIENTLOOP_CURRENCY``, ``CLIENTLOOP_DEFAULT_LANGUAGE``,
``CLIENTLOOP_TIMEZONE``), and the tunable constants (README configuration table):

| variable | default |
|---|---|
| ``CLIENTLOOP_SATISFACTION_BASELINE`` | ``70`` |
| ``CLIENTLOOP_SATISFACTION_FEEDBACK_WEIGHT`` | ``0.3`` |
| ``CLIENTLOOP_SATISFACTION_PENALTIES`` | ``low=2,medium=5,high=10,critical=20`` |
| ``CLIENTLOOP_SATISFACTION_RESOLVED_FACTORS`` | ``within_sla=0.5,late=0.25`` |
| ``CLIENTLOOP_VALUE_TIERS`` | ``A=1000000,B=100000`` |
| ``CLIENTLOOP_VALUE_WINDOW_DAYS`` | ``90`` |
| ``CLIENTLOOP_HEALTH_BANDS`` | ``healthy=70,at_risk=40`` |

Records are folds, so new rules apply to a client's whole history the next time its records are
folded: the periodic job notices clients folded under other rules (:func:`rules_fingerprint`)
and re-folds them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.registry.domain.care import DEFAULT_CARE_RULES, CareRules
from services.registry.domain.clients import ClientRules
from services.registry.domain.satisfaction import DEFAULT_SATISFACTION_RULES, SatisfactionRules
from services.registry.domain.value import DEFAULT_VALUE_RULES, ValueRules
from shared.config import Settings, parse_pairs


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


def _number(name: str, raw: str) -> Decimal:
    try:
        number = Decimal(raw.strip())
    except InvalidOperation:
        raise SystemExit(f"{name}: {raw!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise SystemExit(f"{name}: {raw!r} must be a number of at least 0")
    return number


def _pairs(name: str, raw: str, keys: tuple[str, ...]) -> dict[str, Decimal]:
    pairs = parse_pairs(name, raw)
    unknown = [key for key in pairs if key not in keys]
    if unknown:
        raise SystemExit(f"{name}: expected items KEY=NUMBER with KEY one of {', '.join(keys)}, "
                         f"got {', '.join(unknown)}")
    return {key: _number(name, value) for key, value in pairs.items()}


def rules_from_env(env: Mapping[str, str]) -> tuple[SatisfactionRules, ValueRules]:
    """The satisfaction and value rules with the ``CLIENTLOOP_*`` overrides applied."""
    satisfaction: dict = {}
    value: dict = {}
    if env.get("CLIENTLOOP_SATISFACTION_BASELINE"):
        satisfaction["baseline"] = _number("CLIENTLOOP_SATISFACTION_BASELINE",
                                           env["CLIENTLOOP_SATISFACTION_BASELINE"])
    if env.get("CLIENTLOOP_SATISFACTION_FEEDBACK_WEIGHT"):
        satisfaction["feedback_weight"] = _number("CLIENTLOOP_SATISFACTION_FEEDBACK_WEIGHT",
                                                  env["CLIENTLOOP_SATISFACTION_FEEDBACK_WEIGHT"])
    if env.get("CLIENTLOOP_SATISFACTION_PENALTIES"):
        penalties = dict(DEFAULT_SATISFACTION_RULES.penalties)
        penalties.update(_pairs("CLIENTLOOP_SATISFACTION_PENALTIES",
                                env["CLIENTLOOP_SATISFACTION_PENALTIES"], tuple(penalties)))
        satisfaction["penalties"] = penalties
    factors = _pairs("CLIENTLOOP_SATISFACTION_RESOLVED_FACTORS",
                     env.get("CLIENTLOOP_SATISFACTION_RESOLVED_FACTORS") or "", ("within_sla", "late"))
    if "within_sla" in factors:
        satisfaction["resolved_within_sla_factor"] = factors["within_sla"]
    if "late" in factors:
        satisfaction["resolved_late_factor"] = factors["late"]
    tiers = _pairs("CLIENTLOOP_VALUE_TIERS", env.get("CLIENTLOOP_VALUE_TIERS") or "", ("A", "B"))
    if "A" in tiers:
        value["tier_a"] = tiers["A"]
    if "B" in tiers:
        value["tier_b"] = tiers["B"]
    if env.get("CLIENTLOOP_VALUE_WINDOW_DAYS"):
        days = _number("CLIENTLOOP_VALUE_WINDOW_DAYS", env["CLIENTLOOP_VALUE_WINDOW_DAYS"])
        if days != days.to_integral_value() or days < 1:
            raise SystemExit("CLIENTLOOP_VALUE_WINDOW_DAYS must be a whole number of days, at least 1")
        value["window_days"] = int(days)
    bands = _pairs("CLIENTLOOP_HEALTH_BANDS", env.get("CLIENTLOOP_HEALTH_BANDS") or "", ("healthy", "at_risk"))
    if "healthy" in bands:
        value["healthy_from"] = bands["healthy"]
    if "at_risk" in bands:
        value["at_risk_from"] = bands["at_risk"]
    try:
        return (replace(DEFAULT_SATISFACTION_RULES, **satisfaction) if satisfaction else DEFAULT_SATISFACTION_RULES,
                replace(DEFAULT_VALUE_RULES, **value) if value else DEFAULT_VALUE_RULES)
    except ValueError as exc:
        raise SystemExit(f"registry rules: {exc}") from exc


def rules_from_settings(settings: Settings, *, satisfaction: SatisfactionRules | None = None,
                        value: ValueRules | None = None,
                        care: CareRules | None = None) -> RegistryRules:
    """The rules of the installation: documented defaults, ``CLIENTLOOP_*`` overrides, then the
    arguments (for tests and embedding)."""
    env_satisfaction, env_value = rules_from_env(settings.extra)
    satisfaction = satisfaction or env_satisfaction
    value = value or env_value
    try:
        return RegistryRules(clients=ClientRules(currency=settings.currency),
                             value=value or DEFAULT_VALUE_RULES,
                             default_language=settings.default_language,
                             satisfaction=satisfaction or DEFAULT_SATISFACTION_RULES,
                             care=care or DEFAULT_CARE_RULES, timezone=settings.timezone)
    except ValueError as exc:
        raise SystemExit(f"registry settings: {exc} (CLIENTLOOP_TIMEZONE={settings.timezone!r})") from exc
