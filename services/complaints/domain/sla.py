"""Service-level deadlines of a complaint.

* ``respond_by`` = ``opened_at`` + the respond target (met by *acknowledge*);
  ``resolve_by`` = ``opened_at`` + the resolve target (met by *resolve*) + the pause extension.
  Targets come from the severity, scaled by the client's tier factor (tier ``A``: half).
  Calendar time: nights, weekends and holidays count.
* The resolution clock pauses while the complaint is ``awaiting_client``. On *resume*,
  ``resolve_by`` moves later by the pause — unless it had already passed when the pause began
  (``paused_at > resolve_by``): a passed deadline never moves. ``waiting_s`` counts every pause
  either way. Pauses are counted in whole seconds (rounded down) so ``waiting_s``, the extension
  and the deadline always agree.
* A deadline is missed when the moment that matters is strictly after it: acknowledging or
  resolving exactly at the deadline is on time.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from .clock import ensure_utc, whole_seconds
from .rules import SlaPolicy
from .workflow import Status

RESPONSE = "response"
RESOLUTION = "resolution"
BREACH_KINDS: tuple[str, ...] = (RESPONSE, RESOLUTION)

_RUNNING_STATUSES = frozenset({
    Status.NEW, Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.ESCALATED,
})
"""Statuses in which the resolution clock runs (open and not paused)."""


@dataclass(frozen=True)
class Deadlines:
    respond_by: datetime
    resolve_by: datetime


def deadlines_for(severity: str, tier: str | None, opened_at: datetime, policy: SlaPolicy,
                  pause_extension_s: int = 0) -> Deadlines:
    """The deadlines of a complaint opened at ``opened_at``, its resolve deadline moved by the
    pauses that already extended it."""
    opened_at = ensure_utc(opened_at, "opened_at")
    targets = policy.targets_for(severity, tier)
    return Deadlines(
        respond_by=opened_at + targets.respond,
        resolve_by=opened_at + targets.resolve + timedelta(seconds=pause_extension_s),
    )


def pause_seconds(paused_at: datetime, resumed_at: datetime) -> int:
    return whole_seconds(ensure_utc(resumed_at) - ensure_utc(paused_at, "paused_at"))


def pause_extends_deadline(resolve_by: datetime, paused_at: datetime) -> bool:
    """Whether a pause that began at ``paused_at`` moves ``resolve_by`` (it had not passed)."""
    return ensure_utc(paused_at, "paused_at") <= ensure_utc(resolve_by, "resolve_by")


class SlaTracked(Protocol):
    status: str
    respond_by: datetime
    resolve_by: datetime


def response_overdue(status: str, respond_by: datetime, now: datetime) -> bool:
    """Still ``new`` after ``respond_by``."""
    return status == Status.NEW and ensure_utc(now) > respond_by


def resolution_overdue(status: str, resolve_by: datetime, now: datetime) -> bool:
    """Open, not paused, and past ``resolve_by``."""
    return status in _RUNNING_STATUSES and ensure_utc(now) > resolve_by


def overdue(complaint: SlaTracked, now: datetime) -> bool:
    """The ``overdue`` flag of a complaint: its response or its resolution is overdue.

    As a query: ``(status = 'new' AND respond_by < :now) OR (status IN ('new',
    'acknowledged', 'in_progress', 'escalated') AND resolve_by < :now)``.
    """
    return (response_overdue(complaint.status, complaint.respond_by, now)
            or resolution_overdue(complaint.status, complaint.resolve_by, now))


def response_breached(respond_by: datetime, acknowledged_at: datetime | None,
                      now: datetime) -> bool:
    """The response deadline was missed: not acknowledged by ``respond_by``, whether the
    complaint is still unacknowledged (``now`` past it) or was acknowledged late."""
    moment = acknowledged_at if acknowledged_at is not None else ensure_utc(now)
    return moment > respond_by


def resolution_breached(status: str, resolve_by: datetime, resolved_at: datetime | None,
                        waiting_since: datetime | None, now: datetime) -> bool:
    """The resolution deadline was missed while the clock ran.

    Resolved or closed: resolved after ``resolve_by``. Awaiting the client: the deadline had
    already passed when the pause began (the pause itself never breaches). Otherwise: ``now``
    is past ``resolve_by``.
    """
    if status in (Status.RESOLVED, Status.CLOSED):
        return resolved_at is not None and resolved_at > resolve_by
    if status == Status.AWAITING_CLIENT:
        return waiting_since is not None and waiting_since > resolve_by
    return ensure_utc(now) > resolve_by


def within_sla(resolved_at: datetime, resolve_by: datetime) -> bool:
    """Resolved no later than the (final) ``resolve_by``."""
    return ensure_utc(resolved_at, "resolved_at") <= ensure_utc(resolve_by, "resolve_by")


def time_to_resolve_s(opened_at: datetime, resolved_at: datetime) -> int:
    """Wall-clock seconds from opening to resolution (pauses included), rounded down."""
    return whole_seconds(ensure_utc(resolved_at, "resolved_at")
                         - ensure_utc(opened_at, "opened_at"))
