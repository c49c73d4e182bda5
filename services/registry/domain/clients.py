"""Who a client is: kind and category, stakeholder grid, engagement, language.

The kinds and categories follow the project-management view of clients (客户): a category
belongs to exactly one kind. The power/interest grid gives the engagement strategy; the PMBOK
engagement levels give the gap between where a stakeholder is and where the project needs them.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Mapping

from shared.errors import ValidationFailed

from .money import MAX_AMOUNT, Money

__all__ = [
    "KINDS", "ENGAGEMENT_LEVELS", "LANGUAGES", "ClientRules", "Money",
    "engagement_strategy", "engagement_gap", "validate_client_fields",
]

KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "internal": ("stakeholder", "team_member", "department"),
    "external": ("enterprise", "individual", "government"),
    "potential": ("prospect", "segment"),
    "end_user": ("end_user",),
})

ENGAGEMENT_LEVELS: tuple[str, ...] = ("unaware", "resistant", "neutral", "supportive", "leading")

LANGUAGES: tuple[str, ...] = ("zh-CN", "en")

MANAGE_CLOSELY = "manage_closely"
KEEP_SATISFIED = "keep_satisfied"
KEEP_INFORMED = "keep_informed"
MONITOR = "monitor"


@dataclass(frozen=True)
class ClientRules:
    """The installation's settings that client fields are checked against."""

    currency: str = "CNY"
    grid_min: int = 1
    grid_max: int = 5
    high_from: int = 4  # power or interest at or above this is "high" on the grid
    max_annual_value: Decimal = MAX_AMOUNT


DEFAULT_CLIENT_RULES = ClientRules()


def engagement_strategy(power: int | None, interest: int | None,
                        rules: ClientRules = DEFAULT_CLIENT_RULES) -> str | None:
    """Where the client sits on the power/interest grid, or None while either is unknown."""
    if power is None or interest is None:
        return None
    high_power = power >= rules.high_from
    high_interest = interest >= rules.high_from
    if high_power and high_interest:
        return MANAGE_CLOSELY
    if high_power:
        return KEEP_SATISFIED
    if high_interest:
        return KEEP_INFORMED
    return MONITOR


def engagement_gap(current: str | None, desired: str | None) -> int | None:
    """How many levels the stakeholder must move: positive = more engagement needed.

    ``engagement_gap("resistant", "supportive")`` is 2; None while either level is unknown.
    """
    if current is None or desired is None:
        return None
    return ENGAGEMENT_LEVELS.index(desired) - ENGAGEMENT_LEVELS.index(current)


def validate_client_fields(fields: Mapping[str, Any],
                           rules: ClientRules = DEFAULT_CLIENT_RULES) -> None:
    """Check the domain rules on a client's fields; raise :class:`ValidationFailed` with all
    the broken ones at once.

    Pass the complete field set the client will have (for a PATCH: the current fields with the
    changes applied), so that a category is checked against the kind it will end up with. Keys
    that are absent are not checked; shape (types of names, contacts, tags) is the schema's job.
    A category that does not belong to its kind is reported on ``category``.
    """
    errors: dict[str, list[str]] = {}
    kind = fields.get("kind")
    if "kind" in fields and kind not in KINDS:
        errors["kind"] = [f"Must be one of: {', '.join(KINDS)}."]
    if "category" in fields and kind in KINDS and fields["category"] not in KINDS[kind]:
        errors["category"] = [f"Must be one of the categories of kind '{kind}': "
                              f"{', '.join(KINDS[kind])}."]
    for name in ("power", "interest"):
        value = fields.get(name)
        if value is not None and not _on_grid(value, rules):
            errors[name] = [f"Must be a whole number from {rules.grid_min} to {rules.grid_max}."]
    language = fields.get("preferred_language")
    if "preferred_language" in fields and language not in LANGUAGES:
        errors["preferred_language"] = [f"Must be one of: {', '.join(LANGUAGES)}."]
    for name in ("engagement_current", "engagement_desired"):
        level = fields.get(name)
        if level is not None and level not in ENGAGEMENT_LEVELS:
            errors[name] = [f"Must be one of: {', '.join(ENGAGEMENT_LEVELS)}."]
    annual_value = fields.get("annual_value")
    if annual_value is not None:
        try:
            Money.parse(annual_value, rules.currency, max_amount=rules.max_annual_value)
        except ValidationFailed as failed:
            errors.update(failed.errors)
    if errors:
        raise ValidationFailed(errors)


def _on_grid(value: object, rules: ClientRules) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)
            and rules.grid_min <= value <= rules.grid_max)
