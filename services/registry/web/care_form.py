"""The client page's care forms: log an interaction, set the communication plan.

The form's strings are read into the fields ``care.log_interaction`` and ``care.put_plan`` take;
the rules (known channel, lengths, not in the future, a frequency of at least a day) stay in
the domain, whose errors come back keyed by field and are shown in the reader's language. A
time typed without a zone is a local time in ``CLIENTLOOP_TIMEZONE``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from shared.web.console import _

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass
class InteractionForm:
    channel: str = ""
    summary: str = ""
    occurred_at: str = ""
    staff: str = ""
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class PlanForm:
    goal: str = ""
    channel: str = ""
    frequency_days: str = ""
    owner: str = ""
    starts_on: str = ""
    version: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _value(form: Mapping[str, str], name: str) -> str:
    return (form.get(name) or "").strip()


def read_interaction(form: Mapping[str, str]) -> InteractionForm:
    return InteractionForm(**{name: _value(form, name)
                              for name in ("channel", "summary", "occurred_at", "staff")})


PLAN_PREFIX = "plan_"  # the plan's fields share the page with the interaction form's


def read_plan(form: Mapping[str, str]) -> PlanForm:
    return PlanForm(version=_value(form, "version"), **{
        name: _value(form, PLAN_PREFIX + name)
        for name in ("goal", "channel", "frequency_days", "owner", "starts_on")})


def plan_form_of(plan: Mapping[str, Any] | None) -> PlanForm:
    """The plan form filled in with the stored plan (blank while there is none)."""
    if plan is None:
        return PlanForm(frequency_days="30")
    return PlanForm(goal=plan["goal"], channel=plan["channel"],
                    frequency_days=str(plan["frequency_days"]), owner=plan["owner"],
                    starts_on=plan["starts_on"].isoformat(), version=str(plan["version"]))


def interaction_fields(form: InteractionForm, zone: ZoneInfo
                       ) -> tuple[dict[str, Any] | None, InteractionForm]:
    errors = _unstorable(form, ("summary", "staff"))
    occurred_at = None
    if form.occurred_at:
        occurred_at = _local_time(form.occurred_at, zone)
        if occurred_at is None:
            errors["occurred_at"] = ["invalid"]
    if errors:
        return None, interaction_errors(form, errors)
    return {"channel": form.channel, "summary": form.summary, "occurred_at": occurred_at,
            "staff": form.staff or None}, form


def _local_time(text: str, zone: ZoneInfo) -> datetime | None:
    """``2026-03-02T09:30`` (what ``<input type="datetime-local">`` sends) in ``zone``."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def interaction_errors(form: InteractionForm, errors: Mapping[str, Any]) -> InteractionForm:
    messages = {
        "channel": _("Choose how you were in touch."),
        "summary": _("Write what was discussed, at most 5000 characters."),
        "occurred_at": _("Enter when it happened, not in the future, such as 2026-03-02 09:30."),
        "staff": _("Enter who was in touch, at most 200 characters."),
    }
    return replace(form, errors={name: messages.get(name, _("Check this field."))
                                 for name in _field_names(errors, messages)})


def plan_fields(form: PlanForm) -> tuple[dict[str, Any] | None, PlanForm]:
    errors = _unstorable(form, ("goal", "owner"))
    frequency: Any = form.frequency_days
    if frequency.isdigit():
        frequency = int(frequency)
    else:
        errors["frequency_days"] = ["invalid"]
    starts_on = None
    if form.starts_on:
        try:
            starts_on = date.fromisoformat(form.starts_on)
        except ValueError:
            errors["starts_on"] = ["invalid"]
    if errors:
        return None, plan_errors(form, errors)
    return {"goal": form.goal, "channel": form.channel, "frequency_days": frequency,
            "owner": form.owner or None, "starts_on": starts_on}, form


def plan_errors(form: PlanForm, errors: Mapping[str, Any]) -> PlanForm:
    messages = {
        "goal": _("Write the plan's goal, at most 1000 characters."),
        "channel": _("Choose how you will keep in touch."),
        "frequency_days": _("Enter how often, in whole days from 1 to 366."),
        "owner": _("Enter who owns the plan, at most 200 characters."),
        "starts_on": _("Enter the date the plan starts, such as 2026-03-02."),
    }
    return replace(form, errors={PLAN_PREFIX + name: messages.get(name, _("Check this field."))
                                 for name in _field_names(errors, messages)})


def _field_names(errors: Mapping[str, Any], known: Mapping[str, str]) -> list[str]:
    names = []
    for path in errors:
        name = path.split(".")[0]
        name = name if name in known else next(iter(known))
        if name not in names:
            names.append(name)
    return names


def _unstorable(form: Any, names: tuple[str, ...]) -> dict[str, list[str]]:
    return {name: ["unstorable"] for name in names if _UNSTORABLE.search(getattr(form, name))}
