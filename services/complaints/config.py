"""The complaint rules from environment variables (also in the README's configuration table).

| variable | default | meaning |
|---|---|---|
| ``CLIENTLOOP_COMPLAINTS_SLA`` | ``critical=1h/24h,high=4h/72h,medium=8h/5d,low=24h/10d`` | respond / resolve targets per severity (units ``m``, ``h``, ``d``); severities left out keep their default |
| ``CLIENTLOOP_COMPLAINTS_TIER_FACTORS`` | ``A=0.5`` | SLA factor per client tier (tiers left out: 1) |
| ``CLIENTLOOP_COMPLAINTS_AUTO_CLOSE_DAYS`` | ``7`` | a resolved complaint closes by itself after this many days |
| ``CLIENTLOOP_COMPLAINTS_REOPEN_DAYS`` | ``30`` | a complaint can be reopened up to this many days after its resolution |
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Mapping

from services.complaints.domain.rules import (DEFAULT_RULES, ComplaintRules, SeverityTargets,
                                              SlaPolicy)
from services.complaints.domain.vocabulary import SEVERITIES
from shared.config import parse_pairs

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def _span(name: str, text: str) -> timedelta:
    match = _SPAN.match(text)
    if match is None:
        raise SystemExit(f"{name}: {text!r} is not a duration such as 30m, 4h or 5d")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def _days(env: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        days = float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number of days, got {raw!r}") from None
    return timedelta(days=days)


def rules_from_env(env: Mapping[str, str]) -> ComplaintRules:
    targets = dict(DEFAULT_RULES.sla.targets)
    raw = env.get("CLIENTLOOP_COMPLAINTS_SLA") or ""
    for severity, value in parse_pairs("CLIENTLOOP_COMPLAINTS_SLA", raw).items():
        if severity not in SEVERITIES:
            raise SystemExit(f"CLIENTLOOP_COMPLAINTS_SLA: unknown severity {severity!r}")
        respond, sep, resolve = value.partition("/")
        if not sep:
            raise SystemExit(f"CLIENTLOOP_COMPLAINTS_SLA: {severity} needs RESPOND/RESOLVE")
        targets[severity] = SeverityTargets(respond=_span("CLIENTLOOP_COMPLAINTS_SLA", respond),
                                            resolve=_span("CLIENTLOOP_COMPLAINTS_SLA", resolve))
    factors = dict(DEFAULT_RULES.sla.tier_factors)
    raw = env.get("CLIENTLOOP_COMPLAINTS_TIER_FACTORS")
    if raw:
        factors = {}
        for tier, value in parse_pairs("CLIENTLOOP_COMPLAINTS_TIER_FACTORS", raw).items():
            try:
                factors[tier] = float(value)
            except ValueError:
                raise SystemExit(f"CLIENTLOOP_COMPLAINTS_TIER_FACTORS: {value!r} is not a number"
                                 ) from None
    try:
        return ComplaintRules(
            sla=SlaPolicy(targets=targets, tier_factors=factors),
            reopen_window=_days(env, "CLIENTLOOP_COMPLAINTS_REOPEN_DAYS",
                                DEFAULT_RULES.reopen_window),
            auto_close_after=_days(env, "CLIENTLOOP_COMPLAINTS_AUTO_CLOSE_DAYS",
                                   DEFAULT_RULES.auto_close_after),
        )
    except ValueError as exc:
        raise SystemExit(f"complaint rules: {exc}") from None
