"""The value record's history: one entry each time tier, health score or band changed.

Like the satisfaction ledger, the history is a fold, so a late event rewrites it correctly.
:func:`fold_value_history` walks every input in event-time order (then event id) — annual value
changes, satisfaction ledger entries, complaint events — and, between them, the moments a
complaint leaves the 90-day window. At each point it computes the record as of that moment and
appends an entry only when tier, health score or band differ from the previous entry.

An entry's ``cause`` is ``{"event_id", "event_type"}`` of the event that changed the record, or
None when the 90-day window moved (what the daily job publishes with ``cause`` null). A complaint
counts as recent up to and including 90 days after its opening; the window move is therefore
dated the first instant after (opening + 90 days + 1 µs, the smallest step a datetime has).
Window moves are walked up to ``now`` when given, else up to the latest input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable

from .events import COMPLAINT_OPENED, SatisfactionEvent
from .money import Money, money_output
from .open_complaints import (NO_OPEN_COMPLAINTS, complaints_in_window,
                              count_complaint_event)
from .satisfaction import LedgerEntry, unique_events
from .value import DEFAULT_VALUE_RULES, ValueRecord, ValueRules, value_changed, value_record

__all__ = ["AnnualValueChange", "ValueHistoryEntry", "fold_value_history", "WINDOW_MOVE_STEP"]

WINDOW_MOVE_STEP = timedelta(microseconds=1)
_WINDOW_MOVE_ID = ""  # sorts before any event id at the same instant


@dataclass(frozen=True)
class AnnualValueChange:
    """Staff set (or cleared) the annual value; the event that recorded it is the cause."""

    event_id: str
    event_type: str  # "client.registered" or "client.updated"
    at: datetime
    annual_value: Money | None


@dataclass(frozen=True)
class ValueHistoryEntry:
    at: datetime
    cause: dict[str, str] | None
    tier: str
    health_score: Decimal
    health_band: str
    value_at_risk: Decimal

    def as_output(self, currency: str) -> dict[str, Any]:
        return {"at": self.at, "cause": self.cause, "tier": self.tier,
                "health_score": self.health_score, "health_band": self.health_band,
                "value_at_risk": money_output(self.value_at_risk, currency)}


@dataclass
class _Point:
    at: datetime
    cause: dict[str, str] | None
    annual_value_changes: list[AnnualValueChange] = field(default_factory=list)
    satisfaction_entries: list[LedgerEntry] = field(default_factory=list)
    complaint_events: list[SatisfactionEvent] = field(default_factory=list)


def fold_value_history(annual_value_changes: Iterable[AnnualValueChange],
                       satisfaction_entries: Iterable[LedgerEntry],
                       complaint_events: Iterable[SatisfactionEvent],
                       rules: ValueRules = DEFAULT_VALUE_RULES, *,
                       now: datetime | None = None) -> list[ValueHistoryEntry]:
    """The value history those inputs produce, oldest first (see the module docstring)."""
    points = _points(annual_value_changes, satisfaction_entries,
                     [event for event in unique_events(complaint_events) if event.is_complaint],
                     rules, now)
    history: list[ValueHistoryEntry] = []
    annual_value: Money | None = None
    satisfaction: Decimal | None = None
    open_complaints = NO_OPEN_COMPLAINTS
    opened: list[datetime] = []
    previous: ValueRecord | None = None
    for point in points:
        for change in point.annual_value_changes:
            annual_value = change.annual_value
        for entry in point.satisfaction_entries:
            satisfaction = entry.value
        for event in point.complaint_events:
            open_complaints = count_complaint_event(open_complaints, event)
            if event.event_type == COMPLAINT_OPENED:
                opened.append(event.occurred_at)
        record = value_record(annual_value, satisfaction, open_complaints,
                              complaints_in_window(opened, point.at, rules.window_days), rules)
        if value_changed(previous, record):
            history.append(ValueHistoryEntry(
                at=point.at, cause=point.cause, tier=record.tier,
                health_score=record.health_score, health_band=record.health_band,
                value_at_risk=record.value_at_risk))
            previous = record
    return history


def _points(annual_value_changes: Iterable[AnnualValueChange],
            satisfaction_entries: Iterable[LedgerEntry],
            complaint_events: list[SatisfactionEvent], rules: ValueRules,
            now: datetime | None) -> list[_Point]:
    """Every moment the record may change, each event's effects grouped on one point."""
    points: dict[tuple[datetime, str], _Point] = {}

    def point(at: datetime, event_id: str, event_type: str) -> _Point:
        key = (at, event_id)
        if key not in points:
            points[key] = _Point(at, {"event_id": event_id, "event_type": event_type})
        return points[key]

    seen_changes: set[str] = set()
    for change in annual_value_changes:
        if change.event_id not in seen_changes:
            seen_changes.add(change.event_id)
            point(change.at, change.event_id, change.event_type) \
                .annual_value_changes.append(change)
    for entry in satisfaction_entries:
        point(entry.occurred_at, entry.event_id, entry.event_type) \
            .satisfaction_entries.append(entry)
    for event in complaint_events:
        point(event.occurred_at, event.event_id, event.event_type) \
            .complaint_events.append(event)

    horizon = now if now is not None else max((at for at, _ in points), default=None)
    window = timedelta(days=rules.window_days)
    for event in complaint_events:
        if event.event_type != COMPLAINT_OPENED:
            continue
        leaves_at = event.occurred_at + window + WINDOW_MOVE_STEP
        if horizon is not None and leaves_at <= horizon:
            points.setdefault((leaves_at, _WINDOW_MOVE_ID), _Point(leaves_at, None))
    return [points[key] for key in sorted(points)]
