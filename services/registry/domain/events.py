"""The feedback and complaint events the registry applies to a client.

Survey and complaints publish them; the registry keeps the ones it applied, and every
record it shows is a fold over them. Most move the client's satisfaction and value records
(:data:`SATISFACTION_EVENT_TYPES`); ``complaint.waiting`` and ``complaint.resumed``
(:data:`DEADLINE_EVENT_TYPES`) move only a complaint's deadline as the client's page shows it.
:meth:`SatisfactionEvent.from_bus` reads the ``data`` of a bus event into one, checking exactly
the fields the folds need, so a malformed event fails at the door (and goes to the dead-letter
queue) instead of half-way through a fold. What only the client's page shows — the complaint's
id and ``resolve_by``, a response's comment (:func:`read_comment`) — is read leniently: a value
that is not what the event catalogue promises is dropped, and the event still applies.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from shared.errors import ValidationFailed

from .rounding import to_decimal

SURVEY_RESPONSE_SUBMITTED = "survey.response.submitted"
COMPLAINT_OPENED = "complaint.opened"
COMPLAINT_RESOLVED = "complaint.resolved"
COMPLAINT_REOPENED = "complaint.reopened"
COMPLAINT_RECLASSIFIED = "complaint.reclassified"
COMPLAINT_WAITING = "complaint.waiting"
COMPLAINT_RESUMED = "complaint.resumed"

COMPLAINT_EVENT_TYPES = frozenset(
    {COMPLAINT_OPENED, COMPLAINT_RESOLVED, COMPLAINT_REOPENED, COMPLAINT_RECLASSIFIED})
SATISFACTION_EVENT_TYPES = COMPLAINT_EVENT_TYPES | {SURVEY_RESPONSE_SUBMITTED}
#: Complaint events that change only the deadline: the resolution clock pauses, then resumes
#: with ``resolve_by`` moved later by the pause. They move no satisfaction or value record.
DEADLINE_EVENT_TYPES = frozenset({COMPLAINT_WAITING, COMPLAINT_RESUMED})
#: Every event type the registry subscribes to and keeps.
APPLIED_EVENT_TYPES = SATISFACTION_EVENT_TYPES | DEADLINE_EVENT_TYPES
#: The longest comment kept (the event catalogue's own limit).
COMMENT_MAX_LENGTH = 5000

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")

SCORE_MIN = Decimal(0)
SCORE_MAX = Decimal(100)


def short_event_type(event_type: str) -> str:
    """``clientloop.complaint.opened.v1`` (the CloudEvents ``type``) → ``complaint.opened``."""
    if event_type.startswith("clientloop."):
        event_type = event_type[len("clientloop."):]
        head, _, version = event_type.rpartition(".")
        if head and version.startswith("v") and version[1:].isdigit():
            event_type = head
    return event_type


def is_satisfaction_event(event_type: str) -> bool:
    """Whether an event of this type (short or CloudEvents form) moves satisfaction or value."""
    return short_event_type(event_type) in SATISFACTION_EVENT_TYPES


@dataclass(frozen=True)
class SatisfactionEvent:
    """One applied feedback or complaint event, with only what the folds need.

    ``occurred_at`` is the event's own time (timezone-aware, kept in UTC), not the time the bus
    delivered it; records are ordered by it, then by ``event_id``. ``score`` is None for a
    survey response that had no scored answer; complaint events always carry ``severity`` and
    ``ref``; only ``complaint.resolved`` carries ``within_sla`` and only
    ``complaint.reclassified`` carries ``previous_severity``. ``complaint_id`` and
    ``resolve_by`` are the complaint's as the event gives them (None when it gives none, or
    none that is a UUID / a timezone-aware time).
    """

    event_id: str
    event_type: str
    occurred_at: datetime
    score: Decimal | None = None
    severity: str | None = None
    previous_severity: str | None = None
    within_sla: bool | None = None
    ref: str | None = None
    complaint_id: str | None = None
    resolve_by: datetime | None = None

    @property
    def is_complaint(self) -> bool:
        """Whether it moves the complaint counts (and satisfaction) — not a deadline-only event."""
        return self.event_type in COMPLAINT_EVENT_TYPES

    @property
    def about_a_complaint(self) -> bool:
        """Any complaint event the registry keeps, deadline-only ones included."""
        return self.event_type in COMPLAINT_EVENT_TYPES or self.event_type in DEADLINE_EVENT_TYPES

    @property
    def moves_records(self) -> bool:
        """Whether applying it can change the client's satisfaction or value records."""
        return self.event_type in SATISFACTION_EVENT_TYPES

    @property
    def order_key(self) -> tuple[datetime, str]:
        """Event time, then event id: the one order every record is folded in."""
        return (self.occurred_at, self.event_id)

    @property
    def cause(self) -> dict[str, str]:
        """How published records name this event as the cause of a change."""
        return {"event_id": self.event_id, "event_type": self.event_type}

    @classmethod
    def from_bus(cls, event_id: object, event_type: str, occurred_at: datetime,
                 data: Mapping[str, Any]) -> "SatisfactionEvent":
        """Read a bus event's ``data`` (the event catalogue) into a SatisfactionEvent.

        ``event_type`` may be short (``complaint.opened``) or the CloudEvents type
        (``clientloop.complaint.opened.v1``). Raises :class:`ValidationFailed` (paths under
        ``data.``) for a type the registry does not apply or fields the folds cannot use.
        """
        event_type = short_event_type(event_type)
        errors: dict[str, list[str]] = {}
        if event_type not in APPLIED_EVENT_TYPES:
            raise ValidationFailed(
                {"type": [f"'{event_type}' does not move satisfaction, value or a deadline."]})
        if not isinstance(occurred_at, datetime) or occurred_at.utcoffset() is None:
            errors["time"] = ["Must be a timezone-aware date and time."]
        fields: dict[str, Any] = {}
        if event_type == SURVEY_RESPONSE_SUBMITTED:
            fields["score"] = _read_score(data.get("score"), errors)
        else:
            fields["severity"] = _read_severity(data, "severity", errors)
            fields["ref"] = _read_ref(data, errors)
            fields["complaint_id"] = _read_uuid(data.get("complaint_id"))
            fields["resolve_by"] = _read_time(data.get("resolve_by"))
        if event_type == COMPLAINT_RESOLVED:
            within_sla = data.get("within_sla")
            if not isinstance(within_sla, bool):
                errors["data.within_sla"] = ["Must be true or false."]
            fields["within_sla"] = within_sla
        if event_type == COMPLAINT_RECLASSIFIED:
            fields["previous_severity"] = _read_severity(data, "previous_severity", errors)
        if errors:
            raise ValidationFailed(errors, detail=f"Event {event_id} cannot be applied.")
        return cls(event_id=str(event_id), event_type=event_type,
                   occurred_at=occurred_at.astimezone(timezone.utc), **fields)


def read_comment(data: Mapping[str, Any]) -> str | None:
    """A survey response's ``comment`` (the first text answer), at most
    :data:`COMMENT_MAX_LENGTH` characters; None when it has none (or none that is text)."""
    comment = data.get("comment")
    if not isinstance(comment, str) or not comment.strip():
        return None
    return comment[:COMMENT_MAX_LENGTH]


def _read_uuid(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


def _read_time(raw: object) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return None if moment.utcoffset() is None else moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def _read_score(raw: object, errors: dict[str, list[str]]) -> Decimal | None:
    if raw is None:
        return None
    message = f"Must be a number from {SCORE_MIN} to {SCORE_MAX}, or null."
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str, Decimal)):
        errors["data.score"] = [message]
        return None
    try:
        score = to_decimal(raw)
    except InvalidOperation:
        errors["data.score"] = [message]
        return None
    if not score.is_finite() or not SCORE_MIN <= score <= SCORE_MAX:
        errors["data.score"] = [message]
        return None
    return score


def _read_severity(data: Mapping[str, Any], key: str, errors: dict[str, list[str]]) -> str | None:
    severity = data.get(key)
    if severity not in SEVERITIES:
        errors[f"data.{key}"] = [f"Must be one of: {', '.join(SEVERITIES)}."]
        return None
    return severity


def _read_ref(data: Mapping[str, Any], errors: dict[str, list[str]]) -> str | None:
    ref = data.get("ref")
    if not isinstance(ref, str) or not ref.strip():
        errors["data.ref"] = ["Must be the complaint's reference, such as CMP-000042."]
        return None
    return ref
