"""What a complaint's opening, each workflow action, a triage correction and a note accept.

Shape is checked at the edge (schemas); these checks are the domain's own, so the rules hold
whoever calls. Every problem is collected and raised once as :class:`ValidationFailed`, keyed by
field name, with the same wording the API schemas use.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping, Sequence

from shared.errors import ValidationFailed

from .rules import TextLimits
from .vocabulary import CATEGORIES, CHANNELS, RESOLUTION_CODES, SEVERITIES
from .workflow import Action

REQUIRED = "Missing data for required field."
NULL = "Field may not be null."
BLANK = "Must not be blank."
NOT_TEXT = "Not a valid string."
NOT_BOOLEAN = "Not a valid boolean."
UNKNOWN = "Unknown field."

ACTION_FIELDS: Mapping[Action, tuple[str, ...]] = MappingProxyType({
    Action.ACKNOWLEDGE: (),
    Action.ASSIGN: ("assignee",),
    Action.START: (),
    Action.ESCALATE: ("reason",),
    Action.WAIT: ("reason",),
    Action.RESUME: (),
    Action.RESOLVE: ("resolution_code", "root_cause", "summary"),
    Action.CLOSE: ("client_accepted",),
    Action.REOPEN: ("reason",),
})
"""The fields each action requires; besides them an action accepts only :data:`ACTION_NOTE`."""

ACTION_NOTE = "note"
"""Every action also takes an optional free-text ``note`` (null or absent: none)."""

CORRECTABLE_FIELDS: tuple[str, ...] = ("title", "description", "category", "severity")


class _Problems:
    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.by_field.setdefault(name, []).append(message)

    def raise_if_any(self) -> None:
        if self.by_field:
            raise ValidationFailed(self.by_field)


_MISSING = object()


def _text(problems: _Problems, name: str, value: Any, max_length: int, *,
          required: bool = True, one_line: bool = False) -> str | None:
    """Stripped text (internal runs of whitespace collapsed when ``one_line``)."""
    if value is _MISSING:
        if required:
            problems.add(name, REQUIRED)
        return None
    if value is None:
        if required:
            problems.add(name, NULL)
        return None
    if not isinstance(value, str):
        problems.add(name, NOT_TEXT)
        return None
    text = " ".join(value.split()) if one_line else value.strip()
    if required and not text:
        problems.add(name, BLANK)
        return None
    if len(text) > max_length:
        problems.add(name, f"Longer than maximum length {max_length}.")
        return None
    return text


def _choice(problems: _Problems, name: str, value: Any, choices: Sequence[str]) -> str | None:
    if value is _MISSING:
        problems.add(name, REQUIRED)
    elif value is None:
        problems.add(name, NULL)
    elif value not in choices:
        problems.add(name, f"Must be one of: {', '.join(choices)}.")
    else:
        return value
    return None


def _unknown(problems: _Problems, given: Mapping[str, Any], known: Sequence[str]) -> None:
    for name in given:
        if name not in known:
            problems.add(name, UNKNOWN)


def validate_action_fields(action: Action, fields: Mapping[str, Any],
                           limits: TextLimits) -> dict[str, Any]:
    """The cleaned fields of ``action``: required ones present and valid, the optional
    ``note`` (kept only when it says something), no others."""
    problems = _Problems()
    _unknown(problems, fields, (*ACTION_FIELDS[action], ACTION_NOTE))
    cleaned: dict[str, Any] = {}
    for name in ACTION_FIELDS[action]:
        value = fields.get(name, _MISSING)
        if name == "resolution_code":
            cleaned[name] = _choice(problems, name, value, RESOLUTION_CODES)
        elif name == "client_accepted":
            if value is _MISSING:
                problems.add(name, REQUIRED)
            elif value is None:
                problems.add(name, NULL)
            elif not isinstance(value, bool):
                problems.add(name, NOT_BOOLEAN)
            cleaned[name] = value
        else:
            cleaned[name] = _text(problems, name, value, getattr(limits, name),
                                  one_line=name in ("assignee", "root_cause"))
    note = _text(problems, ACTION_NOTE, fields.get(ACTION_NOTE), limits.note, required=False)
    if note:
        cleaned[ACTION_NOTE] = note
    problems.raise_if_any()
    return cleaned


def validate_opening(*, channel: Any, category: Any, severity: Any, title: Any,
                     description: Any, remedy_sought: Any, assignee: Any,
                     limits: TextLimits) -> dict[str, Any]:
    """The cleaned fields of a new complaint. ``description``, ``remedy_sought`` and
    ``assignee`` are optional (``description`` becomes ``""`` when absent)."""
    problems = _Problems()
    cleaned = {
        "channel": _choice(problems, "channel", channel, CHANNELS),
        "category": _choice(problems, "category", category, CATEGORIES),
        "severity": _choice(problems, "severity", severity, SEVERITIES),
        "title": _text(problems, "title", title, limits.title),
        "description": _text(problems, "description", description, limits.description,
                             required=False) or "",
        "remedy_sought": _text(problems, "remedy_sought", remedy_sought, limits.remedy_sought,
                               required=False) or None,
        "assignee": _text(problems, "assignee", assignee, limits.assignee,
                          required=False, one_line=True) or None,
    }
    problems.raise_if_any()
    return cleaned


def validate_correction(changes: Mapping[str, Any], limits: TextLimits) -> dict[str, Any]:
    """The cleaned triage corrections; only :data:`CORRECTABLE_FIELDS`, each optional."""
    problems = _Problems()
    _unknown(problems, changes, CORRECTABLE_FIELDS)
    cleaned: dict[str, Any] = {}
    for name in CORRECTABLE_FIELDS:
        if name not in changes:
            continue
        value = changes[name]
        if name == "title":
            cleaned[name] = _text(problems, name, value, limits.title)
        elif name == "description":
            if value is None:
                problems.add(name, NULL)
            else:
                cleaned[name] = _text(problems, name, value, limits.description, required=False)
        elif name == "category":
            cleaned[name] = _choice(problems, name, value, CATEGORIES)
        else:
            cleaned[name] = _choice(problems, name, value, SEVERITIES)
    problems.raise_if_any()
    return cleaned


def validate_note(text: Any, limits: TextLimits) -> str:
    problems = _Problems()
    note = _text(problems, "text", text, limits.note)
    problems.raise_if_any()
    return note  # type: ignore[return-value]


def validate_actor(by: Any) -> str:
    """``by`` (the token's name, or ``system``) must name someone."""
    if not isinstance(by, str) or not by.strip():
        raise ValidationFailed({"by": [BLANK]})
    return by.strip()
