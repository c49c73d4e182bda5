"""Client care: the communication plan, logged interactions, and when follow-up is due
.

A client is due for follow-up on a date when its last interaction (or the plan's ``starts_on``
if there is none) plus ``frequency_days`` is on or before that date. One addition where the
spec is silent: a plan is never due before it starts, so a plan starting next month is not due
today because of an interaction long ago; from ``starts_on`` on, the rule above applies as is.
Dates are calendar dates in the installation's time zone; the service converts interaction
times to dates before asking.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from shared.errors import ValidationFailed

__all__ = [
    "CHANNELS", "CareRules", "CommunicationPlan", "Interaction", "next_due_on", "is_due",
]

CHANNELS: tuple[str, ...] = ("meeting", "email", "phone", "im", "visit", "other")


@dataclass(frozen=True)
class CareRules:
    """Limits on plans and interactions."""

    max_frequency_days: int = 366
    max_goal_length: int = 1000
    max_owner_length: int = 200
    max_summary_length: int = 5000
    max_staff_length: int = 200
    clock_skew: timedelta = timedelta(minutes=5)  # how far in the future occurred_at may be


DEFAULT_CARE_RULES = CareRules()


@dataclass(frozen=True)
class CommunicationPlan:
    """How and how often the project keeps in touch with one client.

    Build one from user input with :meth:`create`, which checks every field and reports all
    broken ones at once by field name. The plain constructor checks the spec's invariants only
    (known channel, a frequency of at least one day, a date to start on).
    """

    goal: str
    channel: str
    frequency_days: int
    owner: str
    starts_on: date

    def __post_init__(self) -> None:
        errors = _plan_invariant_errors(self.channel, self.frequency_days, self.starts_on)
        if errors:
            raise ValidationFailed(errors)

    @classmethod
    def create(cls, goal: Any, channel: Any, frequency_days: Any, owner: Any,
               starts_on: Any = None, *, today: date,
               rules: CareRules = DEFAULT_CARE_RULES) -> "CommunicationPlan":
        """A checked plan; ``starts_on`` defaults to ``today`` (the day the plan is saved)."""
        if starts_on is None:
            starts_on = today
        errors = _plan_invariant_errors(channel, frequency_days, starts_on)
        _check_text(errors, "goal", goal, rules.max_goal_length)
        _check_text(errors, "owner", owner, rules.max_owner_length)
        if "frequency_days" not in errors and frequency_days > rules.max_frequency_days:
            errors["frequency_days"] = [
                f"Must be at most {rules.max_frequency_days} days."]
        if errors:
            raise ValidationFailed(errors)
        return cls(goal=goal, channel=channel, frequency_days=frequency_days, owner=owner,
                   starts_on=starts_on)


def next_due_on(plan: CommunicationPlan, last_interaction_on: date | None) -> date:
    """The date follow-up falls due: (last interaction or ``starts_on``) + frequency, and never
    before ``starts_on``."""
    since = plan.starts_on if last_interaction_on is None else last_interaction_on
    return max(since + timedelta(days=plan.frequency_days), plan.starts_on)


def is_due(plan: CommunicationPlan, last_interaction_on: date | None, on: date) -> bool:
    """Whether the client is due for follow-up on the date ``on``."""
    return next_due_on(plan, last_interaction_on) <= on


@dataclass(frozen=True)
class Interaction:
    """A contact with the client that staff logged. Build one from input with :meth:`create`."""

    channel: str
    summary: str
    occurred_at: datetime
    staff: str

    @classmethod
    def create(cls, channel: Any, summary: Any, occurred_at: Any, staff: Any, *,
               now: datetime, rules: CareRules = DEFAULT_CARE_RULES) -> "Interaction":
        """A checked interaction; ``occurred_at`` is kept in UTC."""
        errors: dict[str, list[str]] = {}
        if channel not in CHANNELS:
            errors["channel"] = [f"Must be one of: {', '.join(CHANNELS)}."]
        _check_text(errors, "summary", summary, rules.max_summary_length)
        _check_text(errors, "staff", staff, rules.max_staff_length)
        if not isinstance(occurred_at, datetime) or occurred_at.utcoffset() is None:
            errors["occurred_at"] = ["Must be a date and time with a time zone."]
        elif occurred_at > now + rules.clock_skew:
            errors["occurred_at"] = ["Must not be in the future."]
        if errors:
            raise ValidationFailed(errors)
        return cls(channel=channel, summary=summary,
                   occurred_at=occurred_at.astimezone(timezone.utc), staff=staff)


def _plan_invariant_errors(channel: Any, frequency_days: Any,
                           starts_on: Any) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if channel not in CHANNELS:
        errors["channel"] = [f"Must be one of: {', '.join(CHANNELS)}."]
    if (not isinstance(frequency_days, int) or isinstance(frequency_days, bool)
            or frequency_days < 1):
        errors["frequency_days"] = ["Must be a whole number of days, at least 1."]
    if not isinstance(starts_on, date) or isinstance(starts_on, datetime):
        errors["starts_on"] = ["Must be a calendar date."]
    return errors


def _check_text(errors: dict[str, list[str]], name: str, value: Any, max_length: int) -> None:
    if not isinstance(value, str) or not value.strip():
        errors[name] = ["Must not be empty."]
    elif len(value) > max_length:
        errors[name] = [f"Must be at most {max_length} characters."]
