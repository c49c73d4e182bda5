"""A client's complaints as the value record counts them.

* Open complaints by severity, folded from complaint events in event-time order like the
  satisfaction ledger: opened +1, reopened +1, resolved −1, reclassified moves one from the
  previous severity to the new one. No count goes below 0.

  A reclassification always adds one to its new severity, even when the previous severity has
  none to give (its ``complaint.opened`` has not arrived, or predates what the registry holds):
  the complaint it names *is* open at that severity. Once the opening arrives it takes its place
  in event time and the fold is exact again.
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
                     COMPLAINT_RESOLVED, SatisfactionEvent)
from .satisfaction import unique_events

__all__ = [
    "OpenComplaints", "fold_open_complaints", "count_complaint_event", "opened_times",
    "complaints_in_window", "window_start",
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
