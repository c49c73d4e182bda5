"""The satisfaction ledger: how satisfied a client is, and why.

Satisfaction S is a number in [0, 100], or None while nothing is known. It is never stored as a
running total: it is a fold over the feedback and complaint events the registry has applied,
taken in event-time order (then event id). An event that arrives late therefore takes its
place and every value after it is recomputed; the ledger depends only on which events
happened, never on the order the bus delivered them. The same event id twice counts once.

Each change is a :class:`LedgerEntry` whose ``reason`` a project manager can read
("Complaint CMP-000042 (high) opened: −10"). About ``delta``:

* it is the real change, ``value`` after minus ``value`` before, *after* clamping to [0, 100],
  so an entry held at 0 or 100 shows how much S actually moved (the reason says it was held);
* for a complaint event while S is still unknown, "before" is the baseline (70) the rule
  starts from, so the delta is the complaint's effect on that baseline;
* for the first survey score, when S was unknown, there is no "before" at all: ``delta`` is
  None and ``value`` is the score.

A survey response whose score is None adds no entry. Numbers are exact Decimals; round them only
when showing or publishing them (:meth:`LedgerEntry.as_output`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

from .events import (COMPLAINT_OPENED, COMPLAINT_RECLASSIFIED, COMPLAINT_REOPENED,
                     COMPLAINT_RESOLVED, SEVERITIES, SURVEY_RESPONSE_SUBMITTED,
                     SatisfactionEvent)
from .rounding import format_change, format_number, round_half_up, to_decimal

__all__ = [
    "SatisfactionEvent", "SatisfactionRules", "LedgerEntry", "fold_ledger", "ledger_entry",
    "current", "current_changed", "unique_events",
]

ARROW = "\u2192"  # "→"


def _default_penalties() -> dict[str, int]:
    return {"low": 2, "medium": 5, "high": 10, "critical": 20}


@dataclass(frozen=True)
class SatisfactionRules:
    """How events move S. Numbers may be given as int, str or Decimal; they are kept as Decimal."""

    baseline: Decimal = Decimal(70)
    feedback_weight: Decimal = Decimal("0.3")
    penalties: Mapping[str, Decimal] = field(default_factory=_default_penalties)
    resolved_within_sla_factor: Decimal = Decimal("0.5")
    resolved_late_factor: Decimal = Decimal("0.25")
    floor: Decimal = Decimal(0)
    ceiling: Decimal = Decimal(100)
    places: int = 2  # decimals of S, delta and value when shown or published

    def __post_init__(self) -> None:
        for name in ("baseline", "feedback_weight", "resolved_within_sla_factor",
                     "resolved_late_factor", "floor", "ceiling"):
            object.__setattr__(self, name, to_decimal(getattr(self, name)))
        missing = [severity for severity in SEVERITIES if severity not in self.penalties]
        if missing:
            raise ValueError(f"no penalty for severities: {', '.join(missing)}")
        penalties = {severity: to_decimal(p) for severity, p in self.penalties.items()}
        object.__setattr__(self, "penalties", MappingProxyType(penalties))

    def __hash__(self) -> int:
        return hash((self.baseline, self.feedback_weight, tuple(sorted(self.penalties.items())),
                     self.resolved_within_sla_factor, self.resolved_late_factor,
                     self.floor, self.ceiling, self.places))

    def clamp(self, value: Decimal) -> Decimal:
        return min(self.ceiling, max(self.floor, value))


DEFAULT_SATISFACTION_RULES = SatisfactionRules()


@dataclass(frozen=True)
class LedgerEntry:
    """One change of S: which event, when it happened, by how much, to what, and why."""

    event_id: str
    event_type: str
    occurred_at: datetime
    delta: Decimal | None
    value: Decimal
    reason: str

    @property
    def cause(self) -> dict[str, str]:
        return {"event_id": self.event_id, "event_type": self.event_type}

    def as_output(self, places: int = DEFAULT_SATISFACTION_RULES.places) -> dict[str, Any]:
        """The entry as the API shows it: ``delta`` and ``value`` rounded half-up."""
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "occurred_at": self.occurred_at,
            "delta": None if self.delta is None else round_half_up(self.delta, places),
            "value": round_half_up(self.value, places),
            "reason": self.reason,
        }


def unique_events(events: Iterable[SatisfactionEvent]) -> list[SatisfactionEvent]:
    """The events once each, by event id (the first copy wins), in event-time order."""
    by_id: dict[str, SatisfactionEvent] = {}
    for event in events:
        by_id.setdefault(event.event_id, event)
    return sorted(by_id.values(), key=lambda event: event.order_key)


def fold_ledger(events: Iterable[SatisfactionEvent],
                rules: SatisfactionRules = DEFAULT_SATISFACTION_RULES) -> list[LedgerEntry]:
    """The satisfaction ledger those events produce, in event-time order."""
    entries: list[LedgerEntry] = []
    satisfaction: Decimal | None = None
    for event in unique_events(events):
        entry = ledger_entry(event, satisfaction, rules)
        if entry is not None:
            entries.append(entry)
            satisfaction = entry.value
    return entries


def ledger_entry(event: SatisfactionEvent, satisfaction: Decimal | None,
                 rules: SatisfactionRules = DEFAULT_SATISFACTION_RULES) -> LedgerEntry | None:
    """The entry one event adds when S was ``satisfaction`` before it (None: unknown), or None
    when it adds none (a survey response without a score, a deadline-only event)."""
    if event.event_type == SURVEY_RESPONSE_SUBMITTED:
        return _feedback_entry(event, satisfaction, rules)
    if event.is_complaint:
        return _complaint_entry(event, satisfaction, rules)
    return None


def current(entries: Sequence[LedgerEntry]) -> Decimal | None:
    """S now: the value of the last entry, or None while the ledger is empty."""
    return entries[-1].value if entries else None


def current_changed(before: Sequence[LedgerEntry], after: Sequence[LedgerEntry],
                    places: int = DEFAULT_SATISFACTION_RULES.places) -> bool:
    """Whether S as published (rounded to ``places``) differs between two ledgers.

    Use it to decide whether applying an event publishes ``client.satisfaction.changed``: a
    change too small to show would publish equal ``previous`` and ``current``.
    """
    old, new = current(before), current(after)
    if old is None or new is None:
        return old is not new
    return round_half_up(old, places) != round_half_up(new, places)


def _feedback_entry(event: SatisfactionEvent, satisfaction: Decimal | None,
                    rules: SatisfactionRules) -> LedgerEntry | None:
    if event.score is None:
        return None
    score = event.score
    scored = f"Survey response scored {format_number(score, rules.places)}"
    if satisfaction is None:
        value = rules.clamp(score)
        return _entry(event, None, value,
                      f"{scored}: first satisfaction measure, set to "
                      f"{format_number(value, rules.places)}")
    value = rules.clamp(satisfaction + rules.feedback_weight * (score - satisfaction))
    return _entry(event, value - satisfaction, value,
                  f"{scored}: satisfaction {format_number(satisfaction, rules.places)} {ARROW} "
                  f"{format_number(value, rules.places)}")


def _complaint_entry(event: SatisfactionEvent, satisfaction: Decimal | None,
                     rules: SatisfactionRules) -> LedgerEntry:
    before = rules.baseline if satisfaction is None else satisfaction
    change, what = _complaint_change(event, rules)
    value = rules.clamp(before + change)
    reason = f"Complaint {event.ref}{what}: {format_change(change, rules.places)}"
    notes = []
    if satisfaction is None:
        notes.append(f"from the baseline of {format_number(rules.baseline, rules.places)}, "
                     "as no satisfaction was measured yet")
    if value != before + change:
        notes.append(f"satisfaction stops at {format_number(value, rules.places)}")
    if notes:
        reason += f" ({'; '.join(notes)})"
    return _entry(event, value - before, value, reason)


def _complaint_change(event: SatisfactionEvent, rules: SatisfactionRules) -> tuple[Decimal, str]:
    """The rule's change to S for a complaint event, and how the reason names what happened."""
    penalty = rules.penalties[event.severity]
    severity = f" ({event.severity})"
    if event.event_type == COMPLAINT_OPENED:
        return -penalty, f"{severity} opened"
    if event.event_type == COMPLAINT_REOPENED:
        return -penalty, f"{severity} reopened"
    if event.event_type == COMPLAINT_RESOLVED:
        if event.within_sla:
            return rules.resolved_within_sla_factor * penalty, f"{severity} resolved within SLA"
        return rules.resolved_late_factor * penalty, f"{severity} resolved after its SLA"
    if event.event_type == COMPLAINT_RECLASSIFIED:
        previous = rules.penalties[event.previous_severity]
        return (previous - penalty,
                f" reclassified from {event.previous_severity} to {event.severity}")
    raise ValueError(f"not a complaint event: {event.event_type}")


def _entry(event: SatisfactionEvent, delta: Decimal | None, value: Decimal,
           reason: str) -> LedgerEntry:
    return LedgerEntry(event_id=event.event_id, event_type=event.event_type,
                       occurred_at=event.occurred_at, delta=delta, value=value, reason=reason)
