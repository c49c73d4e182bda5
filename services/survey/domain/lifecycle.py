"""A survey's life: ``draft`` (editable) → ``active`` (answerable) → ``closed``.

| status   | allowed actions     |
|----------|---------------------|
| `draft`  | `edit`, `publish`   |
| `active` | `invite`, `close`   |
| `closed` | (none)              |

Refused actions raise ``ActionNotAllowed`` (a ``Conflict``) carrying the allowed list.

Decided here: a draft cannot be closed. "Closed" means a survey ran and stopped taking answers;
a draft never took any, so closing it would make reports list a survey that never ran. Staff
keep an unwanted draft as a draft. Publishing or closing twice is refused too (a retried
request is the ``Idempotency-Key``'s business, not a silent success here).
"""
from __future__ import annotations

from enum import StrEnum

from shared.errors import ActionNotAllowed, Conflict

from .definition import SurveyDefinition


class SurveyStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    CLOSED = "closed"


class SurveyAction(StrEnum):
    EDIT = "edit"
    PUBLISH = "publish"
    INVITE = "invite"
    CLOSE = "close"


ALLOWED_ACTIONS: dict[SurveyStatus, tuple[SurveyAction, ...]] = {
    SurveyStatus.DRAFT: (SurveyAction.EDIT, SurveyAction.PUBLISH),
    SurveyStatus.ACTIVE: (SurveyAction.INVITE, SurveyAction.CLOSE),
    SurveyStatus.CLOSED: (),
}


def allowed_actions(status: str) -> list[str]:
    return [action.value for action in ALLOWED_ACTIONS[SurveyStatus(status)]]


def ensure_editable(status: str) -> None:
    """Only a draft's definition may change: answers already given must keep their meaning."""
    _require(SurveyAction.EDIT, status)


def ensure_can_invite(status: str) -> None:
    """Invitations are sent for active surveys only."""
    _require(SurveyAction.INVITE, status)


def publish(status: str, definition: SurveyDefinition) -> SurveyStatus:
    """Make a draft answerable; it needs at least one question."""
    _require(SurveyAction.PUBLISH, status)
    if not definition.questions:
        raise Conflict("A survey needs at least one question before it can be published.")
    return SurveyStatus.ACTIVE


def close(status: str) -> SurveyStatus:
    """Stop an active survey taking answers; its open links then answer "closed"."""
    _require(SurveyAction.CLOSE, status)
    return SurveyStatus.CLOSED


def _require(action: SurveyAction, status: str) -> None:
    current = SurveyStatus(status)
    if action not in ALLOWED_ACTIONS[current]:
        raise ActionNotAllowed(action.value, current.value, allowed_actions(current))
