"""Requirements and change requests: the workflow, the baseline, and what a change may touch.

A requirement belongs to one client. It moves ``proposed`` → ``analysed`` → ``approved`` (the
baseline) → ``in_progress`` → ``delivered`` → ``accepted``; a delivery the client refuses goes
back to ``in_progress``. Until ``approved`` its fields are edited directly; from ``approved`` on,
the baselined fields change only through an approved **change request**.

Plain Python: the use cases (``services.registry.requirements``) load, save and publish.
:data:`ACTIONS` is the order the documentation lists the actions in; :func:`allowed_actions`
always answers in that order.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping

from shared.errors import ActionNotAllowed, ValidationFailed

__all__ = [
    "PRIORITIES", "SOURCES", "STATUSES", "ACTIONS", "TRANSITIONS", "BASELINED_FIELDS",
    "EDITABLE_FIELDS", "DONE_STATUSES", "RISKS", "CR_STATUSES", "CR_ACTIONS", "DECISIONS",
    "ACTION_FIELDS", "RequirementLimits", "allowed_actions", "check_action", "parse_action",
    "is_overdue", "is_baselined", "validate_requirement_fields", "validate_action_fields",
    "validate_proposed", "stale_fields", "cr_allowed_actions", "CHANGE_REQUEST_PATH",
]

PRIORITIES: tuple[str, ...] = ("must", "should", "could", "wont")  # MoSCoW
SOURCES: tuple[str, ...] = ("interview", "workshop", "survey", "complaint", "meeting",
                            "document", "other")
STATUSES: tuple[str, ...] = ("proposed", "analysed", "approved", "in_progress", "delivered",
                             "accepted", "rejected", "withdrawn")
ACTIONS: tuple[str, ...] = ("analyse", "approve", "start", "deliver", "accept", "refuse",
                            "reject", "withdraw")

#: action → (the statuses it starts from, the status it leads to)
TRANSITIONS: Mapping[str, tuple[frozenset[str], str]] = {
    "analyse": (frozenset({"proposed"}), "analysed"),
    "approve": (frozenset({"analysed"}), "approved"),
    "start": (frozenset({"approved"}), "in_progress"),
    "deliver": (frozenset({"in_progress"}), "delivered"),
    "accept": (frozenset({"delivered"}), "accepted"),
    "refuse": (frozenset({"delivered"}), "in_progress"),
    "reject": (frozenset({"proposed", "analysed"}), "rejected"),
    "withdraw": (frozenset({"proposed", "analysed", "approved", "in_progress"}), "withdrawn"),
}

#: The text each action needs (``reason``) or takes (``note``); every action takes a ``note``.
ACTION_FIELDS: Mapping[str, tuple[str, ...]] = {
    "analyse": (), "approve": (), "start": (), "deliver": ("note",), "accept": (),
    "refuse": ("reason",), "reject": ("reason",), "withdraw": ("reason",),
}

#: Statuses in which a requirement no longer counts as overdue.
DONE_STATUSES: tuple[str, ...] = ("delivered", "accepted", "rejected", "withdrawn")
#: Statuses from which the baselined fields change only through a change request.
BASELINE_STATUSES: tuple[str, ...] = ("approved", "in_progress", "delivered", "accepted")
#: Statuses in which a change request may be submitted (and approved).
CHANGEABLE_STATUSES: tuple[str, ...] = ("approved", "in_progress", "delivered")
#: Statuses in which nothing changes any more.
FINAL_STATUSES: tuple[str, ...] = ("accepted", "rejected", "withdrawn")

BASELINED_FIELDS: tuple[str, ...] = ("title", "description", "priority", "due_on",
                                     "acceptance_criteria")
EDITABLE_FIELDS: tuple[str, ...] = ("title", "description", "priority", "source", "source_ref",
                                    "owner", "due_on", "acceptance_criteria")

RISKS: tuple[str, ...] = ("low", "medium", "high")
CR_STATUSES: tuple[str, ...] = ("submitted", "approved", "rejected", "withdrawn")
CR_ACTIONS: tuple[str, ...] = ("approve", "reject", "withdraw")
DECISIONS: tuple[str, ...] = ("approve", "reject")

CHANGE_REQUEST_PATH = "/api/v1/requirements/{id}/change-requests"


@dataclass(frozen=True)
class RequirementLimits:
    title: int = 200
    description: int = 10000
    source_ref: int = 200
    owner: int = 200
    criterion: int = 500
    criteria: int = 50
    summary: int = 2000
    note: int = 2000
    max_schedule_days: int = 3650
    earliest: date = date(1900, 1, 1)
    latest: date = date(9000, 1, 1)


DEFAULT_LIMITS = RequirementLimits()


# -- workflow --------------------------------------------------------------------------------

def parse_action(name: object) -> str:
    if name not in ACTIONS:
        raise ValidationFailed({"action": [f"Unknown action. Expected one of: {', '.join(ACTIONS)}."]})
    return str(name)


def allowed_actions(status: str) -> list[str]:
    return [action for action in ACTIONS if status in TRANSITIONS[action][0]]


def check_action(action: str, status: str) -> str:
    """The status after ``action`` from ``status``, or :class:`ActionNotAllowed` (409)."""
    sources, target = TRANSITIONS[parse_action(action)]
    if status not in sources:
        raise ActionNotAllowed(action, status, allowed_actions(status))
    return target


def cr_allowed_actions(status: str) -> list[str]:
    return list(CR_ACTIONS) if status == "submitted" else []


def is_overdue(status: str, due_on: date | None, today: date) -> bool:
    """``due_on`` passed (before today) and the requirement is not done."""
    return due_on is not None and due_on < today and status not in DONE_STATUSES


def is_baselined(status: str) -> bool:
    return status in BASELINE_STATUSES


# -- field rules -----------------------------------------------------------------------------

def _blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


def validate_requirement_fields(fields: Mapping[str, Any],
                                limits: RequirementLimits = DEFAULT_LIMITS, *,
                                prefix: str = "") -> None:
    """The rules the schema cannot express: no blank title or criterion, dates in range.
    Lengths and vocabularies are checked again so the domain stands alone."""
    errors: dict[str, list[str]] = {}
    if "title" in fields:
        title = fields["title"]
        if not isinstance(title, str) or _blank(title):
            errors[prefix + "title"] = ["Must not be blank."]
        elif len(title) > limits.title:
            errors[prefix + "title"] = [f"Longer than maximum length {limits.title}."]
    for name, limit in (("description", limits.description), ("source_ref", limits.source_ref),
                        ("owner", limits.owner)):
        value = fields.get(name)
        if isinstance(value, str) and len(value) > limit:
            errors[prefix + name] = [f"Longer than maximum length {limit}."]
    if "priority" in fields and fields["priority"] not in PRIORITIES:
        errors[prefix + "priority"] = [f"Must be one of: {', '.join(PRIORITIES)}."]
    if "source" in fields and fields["source"] not in SOURCES:
        errors[prefix + "source"] = [f"Must be one of: {', '.join(SOURCES)}."]
    due_on = fields.get("due_on")
    if due_on is not None and (not isinstance(due_on, date)
                               or not limits.earliest <= due_on <= limits.latest):
        errors[prefix + "due_on"] = [f"Must be a date between {limits.earliest} and {limits.latest}."]
    criteria = fields.get("acceptance_criteria")
    if criteria is not None:
        if not isinstance(criteria, (list, tuple)) or len(criteria) > limits.criteria:
            errors[prefix + "acceptance_criteria"] = [f"At most {limits.criteria} short texts."]
        else:
            for index, text in enumerate(criteria):
                if not isinstance(text, str) or _blank(text) or len(text) > limits.criterion:
                    errors[f"{prefix}acceptance_criteria.{index}"] = [
                        f"Must be a text of 1 to {limits.criterion} characters, not blank."]
    if errors:
        raise ValidationFailed(errors)


def validate_action_fields(action: str, fields: Mapping[str, Any],
                           limits: RequirementLimits = DEFAULT_LIMITS) -> None:
    """``reason`` where the action needs one, ``note`` for a delivery; no blank texts."""
    errors: dict[str, list[str]] = {}
    for name in ACTION_FIELDS[action]:
        value = fields.get(name)
        if value is None or _blank(value):
            errors[name] = [f"Required for '{action}', and not blank."]
    for name in ("reason", "note"):
        value = fields.get(name)
        if value is not None and name not in ACTION_FIELDS[action] and name == "reason":
            errors[name] = [f"'{action}' takes no reason."]
        elif isinstance(value, str) and len(value) > limits.note:
            errors[name] = [f"Longer than maximum length {limits.note}."]
    if errors:
        raise ValidationFailed(errors)


def validate_proposed(proposed: Mapping[str, Any],
                      limits: RequirementLimits = DEFAULT_LIMITS) -> None:
    """A change request proposes new values for baselined fields only, at least one."""
    if not isinstance(proposed, Mapping) or not proposed:
        raise ValidationFailed({"proposed": ["Propose a new value for at least one of: "
                                             + ", ".join(BASELINED_FIELDS) + "."]})
    unknown = [name for name in proposed if name not in BASELINED_FIELDS]
    if unknown:
        raise ValidationFailed({f"proposed.{name}": [
            "Not a baselined field; change it with PATCH."] for name in unknown})
    if "priority" in proposed and proposed["priority"] is None:
        raise ValidationFailed({"proposed.priority": ["Must not be null."]})
    validate_requirement_fields(proposed, limits, prefix="proposed.")


def stale_fields(base: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The proposed fields whose value moved on since the change request was submitted."""
    return [name for name in base if current.get(name) != base[name]]
