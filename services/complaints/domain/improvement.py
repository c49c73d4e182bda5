"""Improvement actions (corrective actions) and their measured effect.

An improvement action addresses one root cause of complaints. Workflow:

| action | from | to |
|---|---|---|
| (create) | — | ``planned`` |
| ``start`` | ``planned`` | ``in_progress`` (sets ``started_at``) |
| ``complete`` | ``in_progress`` | ``done`` (sets ``done_at``) |
| ``judge_effective`` | ``done`` | ``effective`` |
| ``judge_ineffective`` | ``done`` | ``ineffective`` |
| ``cancel`` | ``planned``, ``in_progress`` | ``cancelled`` |

Corrections (title, root cause, description, category, owner, due date) are allowed while the
action is ``planned`` or ``in_progress``.

Root causes are matched by :func:`normalise_root_cause` (whitespace runs collapsed, case
ignored): the one normalisation every report groups root causes by.

The **effect** (:func:`effect`) compares the complaints with the action's root cause opened in
the :data:`EFFECT_WINDOW` before ``started_at`` with those opened since ``done_at`` (over at
most :data:`EFFECT_WINDOW`, and only once :data:`SETTLING` has passed since ``done_at``), both
per :data:`PERIOD`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Iterable, Mapping
from uuid import UUID

from shared.errors import ActionNotAllowed, ValidationFailed

from .clock import ensure_utc
from .events import DomainEvent
from .reports import report_number
from .vocabulary import CATEGORIES

IMPROVEMENT_CREATED = "improvement.created"
"""An improvement action was planned. Data: improvement_id, title, root_cause, status
(``planned``), from_status (null), by."""
IMPROVEMENT_STATUS_CHANGED = "improvement.status_changed"
"""An improvement action moved in its workflow. Data: improvement_id, title, root_cause, status,
from_status, by; also action, note."""
IMPROVEMENT_EVENT_TYPES = (IMPROVEMENT_CREATED, IMPROVEMENT_STATUS_CHANGED)

PERIOD = timedelta(days=30)
EFFECT_WINDOW = timedelta(days=90)
SETTLING = timedelta(days=14)

TITLE_MAX = 200
ROOT_CAUSE_MAX = 200  # as a complaint's root_cause
DESCRIPTION_MAX = 4000
OWNER_MAX = 200
NOTE_MAX = 2000


class ImprovementStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    EFFECTIVE = "effective"
    INEFFECTIVE = "ineffective"
    CANCELLED = "cancelled"


class ImprovementAction(StrEnum):
    START = "start"
    COMPLETE = "complete"
    JUDGE_EFFECTIVE = "judge_effective"
    JUDGE_INEFFECTIVE = "judge_ineffective"
    CANCEL = "cancel"


S, A = ImprovementStatus, ImprovementAction
IMPROVEMENT_STATUSES: tuple[ImprovementStatus, ...] = tuple(ImprovementStatus)
IMPROVEMENT_ACTIONS: tuple[ImprovementAction, ...] = tuple(ImprovementAction)

IMPROVEMENT_TRANSITIONS: Mapping[ImprovementAction, tuple[frozenset, ImprovementStatus]] = \
    MappingProxyType({
        A.START: (frozenset({S.PLANNED}), S.IN_PROGRESS),
        A.COMPLETE: (frozenset({S.IN_PROGRESS}), S.DONE),
        A.JUDGE_EFFECTIVE: (frozenset({S.DONE}), S.EFFECTIVE),
        A.JUDGE_INEFFECTIVE: (frozenset({S.DONE}), S.INEFFECTIVE),
        A.CANCEL: (frozenset({S.PLANNED, S.IN_PROGRESS}), S.CANCELLED),
    })

CORRECTABLE: frozenset[ImprovementStatus] = frozenset({S.PLANNED, S.IN_PROGRESS})
CORRECTABLE_FIELDS = ("title", "root_cause", "description", "category", "owner", "due_on")
CREATE = "create"
CORRECT = "correct"
IMPROVEMENT_TIMELINE_ACTIONS: tuple[str, ...] = (CREATE, *IMPROVEMENT_ACTIONS, CORRECT)


def normalise_root_cause(text: str | None) -> str | None:
    """The grouping key of a root cause: whitespace runs collapsed to one space, trimmed,
    lower case (``"Late  Delivery "`` and ``"late delivery"`` are one root cause)."""
    if text is None:
        return None
    key = " ".join(text.split()).lower()
    return key or None


def allowed_improvement_actions(status: str) -> list[ImprovementAction]:
    current = ImprovementStatus(status)
    return [action for action in IMPROVEMENT_ACTIONS
            if current in IMPROVEMENT_TRANSITIONS[action][0]]


def parse_improvement_action(name: object) -> ImprovementAction:
    try:
        return ImprovementAction(name)
    except ValueError:
        raise ValidationFailed({"action": [
            f"Unknown action. Expected one of: {', '.join(IMPROVEMENT_ACTIONS)}."]}) from None


# -- fields ------------------------------------------------------------------------------------

def _check_text(problems: dict, name: str, value: Any, max_length: int, required: bool) -> None:
    if value is None:
        if required:
            problems.setdefault(name, []).append("Missing data for required field.")
        return
    if not isinstance(value, str):
        problems.setdefault(name, []).append("Not a valid string.")
    elif required and not value.strip():
        problems.setdefault(name, []).append("Must not be blank.")
    elif len(value) > max_length:
        problems.setdefault(name, []).append(f"Longer than maximum length {max_length}.")


def validate_improvement_fields(fields: Mapping[str, Any], *, partial: bool = False) -> None:
    """The rules of an improvement's fields (all of them, or only those given: ``partial``)."""
    problems: dict[str, list[str]] = {}
    for name, limit, required in (("title", TITLE_MAX, True), ("root_cause", ROOT_CAUSE_MAX, True),
                                  ("description", DESCRIPTION_MAX, False),
                                  ("owner", OWNER_MAX, False)):
        if partial and name not in fields:
            continue
        _check_text(problems, name, fields.get(name), limit, required)
    category = fields.get("category")
    if category is not None and category not in CATEGORIES:
        problems.setdefault("category", []).append(
            f"Must be one of: {', '.join(CATEGORIES)}.")
    due_on = fields.get("due_on")
    if due_on is not None and not isinstance(due_on, date):
        problems.setdefault("due_on", []).append("Not a valid date.")
    unknown = set(fields) - set(CORRECTABLE_FIELDS)
    for name in sorted(unknown):
        problems.setdefault(name, []).append("Unknown field.")
    if problems:
        raise ValidationFailed(problems)


def _clean(name: str, value: Any) -> Any:
    if isinstance(value, str) and name in ("title", "root_cause", "owner"):
        value = " ".join(value.split())
    if isinstance(value, str) and not value.strip() and name in ("description", "owner"):
        return None
    return value


# -- the entity --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImprovementEntry:
    at: datetime
    by: str
    action: str
    from_status: str | None
    to_status: str
    note: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class Improvement:
    id: UUID
    title: str
    root_cause: str
    description: str | None
    category: str | None
    owner: str | None
    due_on: date | None
    status: str
    started_at: datetime | None
    done_at: datetime | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    version: int
    timeline: list[ImprovementEntry] = field(default_factory=list)
    """Entries added by this instance (a loaded improvement starts with none)."""

    def allowed_actions(self) -> list[ImprovementAction]:
        return allowed_improvement_actions(self.status)

    def _event(self, event_type: str, from_status: str | None, by: str, now: datetime,
               **extra: Any) -> DomainEvent:
        return DomainEvent(event_type, self.id, now, {
            "improvement_id": self.id, "title": self.title, "root_cause": self.root_cause,
            "status": self.status, "from_status": from_status, "by": by, **extra})

    def act(self, action: Any, note: str | None, by: str, now: datetime) -> list[DomainEvent]:
        """Apply a workflow action: ``ActionNotAllowed`` (409 + allowed actions) if the
        status refuses it; ``improvement.status_changed`` otherwise."""
        now = ensure_utc(now)
        chosen = parse_improvement_action(action)
        if note is not None:
            problems: dict[str, list[str]] = {}
            _check_text(problems, "note", note, NOTE_MAX, False)
            if problems:
                raise ValidationFailed(problems)
        sources, target = IMPROVEMENT_TRANSITIONS[chosen]
        if ImprovementStatus(self.status) not in sources:
            raise ActionNotAllowed(str(chosen), self.status,
                                   [str(a) for a in self.allowed_actions()])
        previous = self.status
        self.status = str(target)
        if chosen is A.START:
            self.started_at = now
        elif chosen is A.COMPLETE:
            self.done_at = now
        note = note.strip() or None if isinstance(note, str) else None
        self._touch(ImprovementEntry(now, by, str(chosen), previous, self.status, note), now)
        return [self._event(IMPROVEMENT_STATUS_CHANGED, previous, by, now,
                            action=str(chosen), note=note)]

    def correct(self, changes: Mapping[str, Any], by: str, now: datetime) -> list[DomainEvent]:
        """Change the given fields while planned or in progress (409 otherwise)."""
        now = ensure_utc(now)
        if ImprovementStatus(self.status) not in CORRECTABLE:
            raise ActionNotAllowed("correct", self.status,
                                   [str(a) for a in self.allowed_actions()])
        validate_improvement_fields(changes, partial=True)
        details = {}
        for name, value in changes.items():
            value = _clean(name, value)
            if getattr(self, name) != value:
                old = getattr(self, name)
                details[name] = {"from": old.isoformat() if isinstance(old, date) else old,
                                 "to": value.isoformat() if isinstance(value, date) else value}
                setattr(self, name, value)
        if details:
            self._touch(ImprovementEntry(now, by, CORRECT, self.status, self.status,
                                         None, details), now)
        return []

    def _touch(self, entry: ImprovementEntry, now: datetime) -> None:
        self.timeline.append(entry)
        self.updated_at = now
        self.version += 1


def plan_improvement(*, improvement_id: UUID, fields: Mapping[str, Any], by: str,
                     now: datetime) -> tuple[Improvement, list[DomainEvent]]:
    """A new improvement action (``planned``) and its ``improvement.created`` event."""
    now = ensure_utc(now)
    validate_improvement_fields(fields)
    values = {name: _clean(name, fields.get(name)) for name in CORRECTABLE_FIELDS}
    improvement = Improvement(id=improvement_id, status=str(S.PLANNED), started_at=None,
                              done_at=None, created_at=now, created_by=by, updated_at=now,
                              version=1, **values)
    improvement.timeline.append(ImprovementEntry(now, by, CREATE, None, str(S.PLANNED)))
    return improvement, [improvement._event(IMPROVEMENT_CREATED, None, by, now)]


# -- the effect --------------------------------------------------------------------------------

def _per_period(count: int, span: timedelta) -> Decimal:
    return Decimal(count) * Decimal(PERIOD.total_seconds()) / Decimal(span.total_seconds())


def effect_windows(started_at: datetime | None, done_at: datetime | None, now: datetime
                   ) -> tuple[tuple[datetime, datetime] | None, tuple[datetime, datetime] | None]:
    """The ``[start, end)`` instants counted before and after (``None``: not measurable)."""
    before = None if started_at is None else (started_at - EFFECT_WINDOW, started_at)
    after = None
    if done_at is not None and now - done_at >= SETTLING:
        after = (done_at, min(now, done_at + EFFECT_WINDOW))
    return before, after


def effect(started_at: datetime | None, done_at: datetime | None, now: datetime,
           opened_ats: Iterable[datetime]) -> dict[str, Any] | None:
    """The effect of an action, from the opening instants of the complaints resolved with its
    root cause: ``{"before": {"complaints", "days", "per_30_days"}, "after": {…} or None,
    "change_percent"}``; ``None`` before the action started."""
    before_window, after_window = effect_windows(started_at, done_at, now)
    if before_window is None:
        return None
    moments = [ensure_utc(moment) for moment in opened_ats]

    def side(window: tuple[datetime, datetime]) -> tuple[dict[str, Any], Decimal]:
        start, end = window
        count = sum(1 for moment in moments if start <= moment < end)
        rate_ = _per_period(count, end - start)
        return {"complaints": count,
                "days": report_number(Decimal((end - start).total_seconds()) / 86400),
                "per_30_days": report_number(rate_)}, rate_

    before, before_rate = side(before_window)
    after = change = None
    if after_window is not None:
        after, after_rate = side(after_window)
        if before_rate:
            change = report_number((after_rate - before_rate) * 100 / before_rate)
    return {"before": before, "after": after, "change_percent": change}


# -- the Pareto --------------------------------------------------------------------------------

def spelling_groups(counts: Iterable[tuple[str, int]]) -> dict[str, tuple[str, int]]:
    """Counts per spelling → per normalised root cause ``(shown spelling, total)``: the
    spelling shown is the most frequent one (ties: the first in code-point order)."""
    spellings: dict[str, dict[str, int]] = {}
    for spelling, count in counts:
        key = normalise_root_cause(spelling)
        if key is None:
            continue
        group = spellings.setdefault(key, {})
        group[spelling] = group.get(spelling, 0) + int(count)
    return {key: (min(group.items(), key=lambda item: (-item[1], item[0]))[0],
                  sum(group.values()))
            for key, group in spellings.items()}


def grouped_root_causes(counts: Iterable[tuple[str, int]]) -> dict[str, int]:
    """``by_root_cause`` of the complaints report: shown spelling → count, most frequent
    first (ties by code point)."""
    groups = sorted(spelling_groups(counts).values(), key=lambda item: (-item[1], item[0]))
    return {spelling: count for spelling, count in groups}
