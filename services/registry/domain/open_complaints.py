"""A client's complaints as the value record counts them.

* Open complaints by severity, folded from complaint events in event-time order like the
  satisfaction ledger: opened +1, reopened +1, resolved −1, reclassified moves one from the
  previous severity to the new one. No count goes below 0.

  A reclassification always adds one to its new severity, even when the previous severity has
  none to give (its ``complaint.opened`` has not arrived, or predates what the registry holds):
  the complaint it names *is* open at that severity. Once the opening arrives it takes its place
  in event time and the fold is exact again.
* The open complaints one by one (:func:`open_complaint_list`), for the client's page: the
  same events folded per complaint reference, with the complaint's id and its resolution
  deadline (``resolve_by``) as the latest event carrying one gives it — ``complaint.waiting``
  pauses the clock and ``complaint.resumed`` restarts it with the deadline moved.
* Recent complaints: how many ``complaint.opened`` events fall in the window before ``now``.
  The window includes its far edge: with the default 90 days, a complaint opened exactly
  90 days before ``now`` still counts, and stops counting the first instant after.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Iterable, Sequence

from .events import (COMPLAINT_OPENED, COMPLAINT_RECLASSIFIED, COMPLAINT_REOPENED,
                     COMPLAINT_RESOLVED, COMPLAINT_WAITING, SEVERITIES, SatisfactionEvent)
from .satisfaction import unique_events

__all__ = [
    "OpenComplaints", "OpenComplaint", "fold_open_complaints", "open_complaint_list",
    "count_complaint_event", "opened_times", "complaints_in_window", "window_start",
]


@dataclass(frozen=True)
class OpenComplaints:
    """How many of the client's complaints are open, by severity."""

    low: int = 0
    medium: int = 0
    high: int = 0
    critical: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"low": self.low, "medium": self.medium, "high": self.high,
                "critical": self.critical}

    def count(self, severities: Iterable[str]) -> int:
        return sum(getattr(self, severity) for severity in severities)

    def add(self, severity: str, step: int) -> "OpenComplaints":
        """One more (step 1) or one fewer (step −1) open at ``severity``, never below 0."""
        return replace(self, **{severity: max(0, getattr(self, severity) + step)})


NO_OPEN_COMPLAINTS = OpenComplaints()


def count_complaint_event(counts: OpenComplaints, event: SatisfactionEvent) -> OpenComplaints:
    """The counts after one more complaint event (any other event leaves them unchanged)."""
    if event.event_type in (COMPLAINT_OPENED, COMPLAINT_REOPENED):
        return counts.add(event.severity, 1)
    if event.event_type == COMPLAINT_RESOLVED:
        return counts.add(event.severity, -1)
    if event.event_type == COMPLAINT_RECLASSIFIED:
        return counts.add(event.previous_severity, -1).add(event.severity, 1)
    return counts


def fold_open_complaints(events: Iterable[SatisfactionEvent]) -> OpenComplaints:
    """Open complaints by severity after all these events (duplicates counted once)."""
    counts = NO_OPEN_COMPLAINTS
    for event in unique_events(events):
        counts = count_complaint_event(counts, event)
    return counts


@dataclass(frozen=True)
class OpenComplaint:
    """One complaint that is open, as far as the registry's events tell.

    ``opened_at`` is when its (latest) ``complaint.opened`` or ``complaint.reopened`` happened,
    None while only a reclassification has arrived; ``reopened`` says it was resolved before.
    ``complaint_id`` and ``resolve_by`` come from the latest event that carried them (None for
    events stored before the registry kept them); ``paused`` says it waits for the client, its
    resolution clock stopped."""

    ref: str
    severity: str
    opened_at: datetime | None
    reopened: bool = False
    complaint_id: str | None = None
    resolve_by: datetime | None = None
    paused: bool = False


def open_complaint_list(events: Iterable[SatisfactionEvent]) -> list[OpenComplaint]:
    """The complaints still open after these events, most severe first, then oldest first.

    Folded per ``ref`` in event-time order with the counts' rules: opened or reopened opens it,
    resolved closes it, a reclassification moves it to its new severity (and opens it, as the
    counts do, when its opening has not arrived). Every event of an open complaint that carries
    its id or ``resolve_by`` updates them; waiting pauses it, resuming (or reopening) runs it
    again. A waiting or resumed event for a complaint not open leaves the list alone."""
    open_by_ref: dict[str, OpenComplaint] = {}
    for event in unique_events(events):
        if not event.about_a_complaint or event.ref is None:
            continue
        known = open_by_ref.get(event.ref)
        if event.event_type in (COMPLAINT_OPENED, COMPLAINT_REOPENED):
            known = OpenComplaint(event.ref, event.severity, event.occurred_at,
                                  event.event_type == COMPLAINT_REOPENED,
                                  known.complaint_id if known else None,
                                  known.resolve_by if known else None)
        elif event.event_type == COMPLAINT_RESOLVED:
            open_by_ref.pop(event.ref, None)
            continue
        elif event.event_type == COMPLAINT_RECLASSIFIED:
            known = (replace(known, severity=event.severity) if known
                     else OpenComplaint(event.ref, event.severity, None))
        elif known is None:
            continue  # waiting or resumed: a complaint the list does not hold open
        else:
            known = replace(known, paused=event.event_type == COMPLAINT_WAITING)
        open_by_ref[event.ref] = replace(
            known, complaint_id=event.complaint_id or known.complaint_id,
            resolve_by=event.resolve_by or known.resolve_by)
    rank = {severity: position for position, severity in enumerate(reversed(SEVERITIES))}
    return sorted(open_by_ref.values(), key=lambda complaint: (
        rank.get(complaint.severity, len(rank)), complaint.opened_at is None,
        complaint.opened_at.timestamp() if complaint.opened_at else 0.0, complaint.ref))


def opened_times(events: Iterable[SatisfactionEvent]) -> list[datetime]:
    """When each complaint was opened (one per ``complaint.opened`` event id), in order."""
    return [event.occurred_at for event in unique_events(events)
            if event.event_type == COMPLAINT_OPENED]


def window_start(now: datetime, window_days: int) -> datetime:
    """The earliest opening time that still counts as recent at ``now``."""
    return now - timedelta(days=window_days)


def complaints_in_window(opened: Sequence[datetime], now: datetime, window_days: int) -> int:
    """How many of the sorted opening times ``opened`` are in [now − window, now]."""
    return bisect_right(opened, now) - bisect_left(opened, window_start(now, window_days))
