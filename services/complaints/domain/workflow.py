"""The complaint workflow (after ISO 10002): statuses, actions and what moves where.

Order matters: :data:`ACTIONS` is the order the documentation lists the actions, and
:func:`allowed_actions` always answers in that order, so clients and tests can rely on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Mapping

from shared.errors import ValidationFailed

from .clock import ensure_utc
from .rules import DEFAULT_RULES, ComplaintRules


class Status(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    ESCALATED = "escalated"
    AWAITING_CLIENT = "awaiting_client"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"
    START = "start"
    ESCALATE = "escalate"
    WAIT = "wait"
    RESUME = "resume"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"


STATUSES: tuple[Status, ...] = tuple(Status)
ACTIONS: tuple[Action, ...] = tuple(Action)

OPEN_STATUSES: tuple[Status, ...] = (
    Status.NEW, Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.ESCALATED, Status.AWAITING_CLIENT,
)
"""Statuses of a complaint still being handled (the backlog)."""

DONE_STATUSES: tuple[Status, ...] = (Status.RESOLVED, Status.CLOSED)

CORRECTABLE_STATUSES: tuple[Status, ...] = OPEN_STATUSES
"""Triage corrections (title, description, category, severity) are allowed until resolved."""


@dataclass(frozen=True)
class Transition:
    """Where an action may start from and where it leads (``None``: the status stays)."""

    sources: frozenset[Status]
    target: Status | None


TRANSITIONS: Mapping[Action, Transition] = MappingProxyType({
    Action.ACKNOWLEDGE: Transition(frozenset({Status.NEW}), Status.ACKNOWLEDGED),
    Action.ASSIGN: Transition(frozenset(OPEN_STATUSES), None),
    Action.START: Transition(frozenset({Status.ACKNOWLEDGED}), Status.IN_PROGRESS),
    Action.ESCALATE: Transition(
        frozenset({Status.ACKNOWLEDGED, Status.IN_PROGRESS}), Status.ESCALATED),
    Action.WAIT: Transition(
        frozenset({Status.IN_PROGRESS, Status.ESCALATED}), Status.AWAITING_CLIENT),
    Action.RESUME: Transition(frozenset({Status.AWAITING_CLIENT}), Status.IN_PROGRESS),
    Action.RESOLVE: Transition(
        frozenset({Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.ESCALATED}), Status.RESOLVED),
    Action.CLOSE: Transition(frozenset({Status.RESOLVED}), Status.CLOSED),
    Action.REOPEN: Transition(frozenset({Status.RESOLVED, Status.CLOSED}), Status.IN_PROGRESS),
})


def parse_action(name: object) -> Action:
    """The action called ``name``; an unknown one is a validation error on ``action``."""
    try:
        return Action(name)
    except ValueError:
        raise ValidationFailed(
            {"action": [f"Unknown action. Expected one of: {', '.join(ACTIONS)}."]}
        ) from None


def within_reopen_window(resolved_at: datetime | None, now: datetime,
                         rules: ComplaintRules = DEFAULT_RULES) -> bool:
    """Reopening is allowed up to and including ``reopen_window`` after the resolution."""
    if resolved_at is None:
        return False
    return ensure_utc(now) - ensure_utc(resolved_at, "resolved_at") <= rules.reopen_window


def allowed_actions(status: str, resolved_at: datetime | None, now: datetime,
                    rules: ComplaintRules = DEFAULT_RULES) -> list[Action]:
    """The actions a complaint in ``status`` accepts at ``now``, in :data:`ACTIONS` order.

    ``reopen`` (from ``resolved`` or ``closed``) also needs ``now`` to be within the reopen
    window of ``resolved_at``.
    """
    current = Status(status)
    allowed = []
    for action in ACTIONS:
        if current not in TRANSITIONS[action].sources:
            continue
        if action is Action.REOPEN and not within_reopen_window(resolved_at, now, rules):
            continue
        allowed.append(action)
    return allowed


def target_status(action: Action, status: str) -> Status:
    """The status after ``action`` from ``status`` (assumes the action is allowed)."""
    return TRANSITIONS[action].target or Status(status)
