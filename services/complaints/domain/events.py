"""The events the complaints service publishes: its public contract.

A use case stores the events a domain method returns in the outbox, in the same transaction as
the complaint. Each event's ``subject`` is the complaint's client id. ``data`` holds Python
values (datetimes in UTC, UUIDs); :meth:`DomainEvent.json_data` renders them as JSON.
:data:`REQUIRED_DATA` lists the fields the event contract promises per type; events carry a few more.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Mapping
from uuid import UUID

from .workflow import Action

COMPLAINT_OPENED = "complaint.opened"
"""A complaint was received. Data: complaint_id, ref, client_id, severity, category, channel,
opened_at, respond_by, resolve_by; also by."""
COMPLAINT_ACKNOWLEDGED = "complaint.acknowledged"
"""Someone acknowledged the complaint to the client (meets the response SLA when on time).
Data: the common action data; also acknowledged_at, respond_by."""
COMPLAINT_ASSIGNED = "complaint.assigned"
"""The complaint has a (new) assignee. Data: the common action data, assignee;
also previous_assignee."""
COMPLAINT_STARTED = "complaint.started"
"""Investigation started. Data: the common action data."""
COMPLAINT_ESCALATED = "complaint.escalated"
"""The complaint was escalated. Data: the common action data, reason."""
COMPLAINT_WAITING = "complaint.waiting"
"""The complaint waits for the client; its resolution clock is paused.
Data: the common action data, reason."""
COMPLAINT_RESUMED = "complaint.resumed"
"""The client answered; the clock runs again and ``resolve_by`` may have moved.
Data: the common action data; also paused_s (this pause), waiting_s (all pauses)."""
COMPLAINT_RESOLVED = "complaint.resolved"
"""The complaint was resolved. Data: complaint_id, ref, client_id, severity, resolution_code,
root_cause, within_sla, time_to_resolve_s, waiting_s; also by, summary, resolved_at,
resolve_by, reopen_count."""
COMPLAINT_CLOSED = "complaint.closed"
"""The complaint was closed, by staff with the client's answer or by ``system`` after the
auto-close delay (client_accepted null). Data: the common action data, client_accepted;
also automatic."""
COMPLAINT_REOPENED = "complaint.reopened"
"""A resolved or closed complaint was reopened. Data: complaint_id, ref, client_id, severity,
reason; also by, resolve_by, reopen_count."""
COMPLAINT_RECLASSIFIED = "complaint.reclassified"
"""Triage changed the severity; the deadlines were recomputed. Data: complaint_id, ref,
client_id, previous_severity, severity, respond_by, resolve_by; also by."""
COMPLAINT_SLA_BREACHED = "complaint.sla_breached"
"""A deadline was missed; published once per complaint and kind. Data: complaint_id, ref,
client_id, severity, kind (response/resolution), deadline."""

EVENT_TYPES: tuple[str, ...] = (
    COMPLAINT_OPENED, COMPLAINT_ACKNOWLEDGED, COMPLAINT_ASSIGNED, COMPLAINT_STARTED,
    COMPLAINT_ESCALATED, COMPLAINT_WAITING, COMPLAINT_RESUMED, COMPLAINT_RESOLVED,
    COMPLAINT_CLOSED, COMPLAINT_REOPENED, COMPLAINT_RECLASSIFIED, COMPLAINT_SLA_BREACHED,
)

EVENT_BY_ACTION: Mapping[Action, str] = MappingProxyType({
    Action.ACKNOWLEDGE: COMPLAINT_ACKNOWLEDGED,
    Action.ASSIGN: COMPLAINT_ASSIGNED,
    Action.START: COMPLAINT_STARTED,
    Action.ESCALATE: COMPLAINT_ESCALATED,
    Action.WAIT: COMPLAINT_WAITING,
    Action.RESUME: COMPLAINT_RESUMED,
    Action.RESOLVE: COMPLAINT_RESOLVED,
    Action.CLOSE: COMPLAINT_CLOSED,
    Action.REOPEN: COMPLAINT_REOPENED,
})

_IDENTITY = ("complaint_id", "ref", "client_id")
_ACTION_COMMON = (*_IDENTITY, "severity", "by", "resolve_by")

REQUIRED_DATA: Mapping[str, tuple[str, ...]] = MappingProxyType({
    COMPLAINT_OPENED: (*_IDENTITY, "severity", "category", "channel", "opened_at",
                       "respond_by", "resolve_by"),
    COMPLAINT_ACKNOWLEDGED: _ACTION_COMMON,
    COMPLAINT_ASSIGNED: (*_ACTION_COMMON, "assignee"),
    COMPLAINT_STARTED: _ACTION_COMMON,
    COMPLAINT_ESCALATED: (*_ACTION_COMMON, "reason"),
    COMPLAINT_WAITING: (*_ACTION_COMMON, "reason"),
    COMPLAINT_RESUMED: _ACTION_COMMON,
    COMPLAINT_CLOSED: (*_ACTION_COMMON, "client_accepted"),
    COMPLAINT_RECLASSIFIED: (*_IDENTITY, "previous_severity", "severity", "respond_by",
                             "resolve_by"),
    COMPLAINT_SLA_BREACHED: (*_IDENTITY, "severity", "kind", "deadline"),
    COMPLAINT_RESOLVED: (*_IDENTITY, "severity", "resolution_code", "root_cause", "within_sla",
                         "time_to_resolve_s", "waiting_s"),
    COMPLAINT_REOPENED: (*_IDENTITY, "severity", "reason"),
})
"""The ``data`` fields the event contract promises for each event type."""


def format_instant(moment: datetime) -> str:
    """ISO 8601 in UTC ending in ``Z`` (``2025-03-01T09:30:00Z``)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, UUID):
        return str(value)
    return value


@dataclass(frozen=True)
class DomainEvent:
    """Something that happened to a complaint, to be published once its change is saved."""

    type: str
    subject: Any
    """The client id (the CloudEvents ``subject``)."""
    occurred_at: datetime
    data: Mapping[str, Any]

    def json_data(self) -> dict[str, Any]:
        """``data`` with datetimes as ISO 8601 ``Z`` strings and UUIDs as strings."""
        return {key: _json_value(value) for key, value in self.data.items()}
