"""A client's records as one fold that can stop and start again: what makes applying an event
cost the same whatever the client's history.

A client's records — the satisfaction ledger, the value history, the value record now and the
next instant the 90-day window moves — are defined by :func:`full_fold`: the ledger folded from
every applied event (``fold_ledger``), the history from every input (``fold_value_history``),
the record from both (``compute_value_record``). :func:`fold_from` computes exactly the same
records in one pass, and can start that pass part-way.

The pass walks the **points** of the value history in event-time order (time, then event id):
each annual value change, each event that adds a ledger entry or moves the complaint counts,
and each moment a complaint leaves the window (dated opening + window + 1 µs, id "", so it sorts
before any event at the same instant) up to ``now``. After each point the whole state of the
fold is small (:class:`FoldState`): S exactly, the annual value, the open complaints by
severity, the openings that may still count in a later window, the tier, health score and band
of the last history entry, and how many ledger entries, history entries and points came before.

Started from the state after some point, the pass needs only the inputs after that point and
yields the ledger and history entries from that state's positions on. So the registry stores
the state every :data:`CHECKPOINT_EVERY` points (:attr:`Fold.checkpoints`), after the last
input at or before ``now`` (:attr:`Fold.tail`) and after the input it has just stored
(:attr:`Fold.mark`). A new event folds on from the latest of those before its place in time:
for an event newer than the others, or than the one applied just before it (the next event
of a stream that a later input, such as a change of annual value, overtook), that is the
state right before it, so it costs the same at 10,000 events as at 10; an event that arrives
later than that re-folds from the checkpoint before it, at most :data:`CHECKPOINT_EVERY` points
more than the part of the history it changes.

A state stored at a point dated at or before ``now`` does not depend on ``now`` (every window
move up to that point is in the pass either way), so it stays valid as time passes; a state
after ``now`` would not, and none is offered for storing.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterable, Sequence

from .events import COMPLAINT_OPENED, SURVEY_RESPONSE_SUBMITTED, SatisfactionEvent
from .money import Money
from .open_complaints import NO_OPEN_COMPLAINTS, OpenComplaints, count_complaint_event
from .satisfaction import (DEFAULT_SATISFACTION_RULES, LedgerEntry, SatisfactionRules, current,
                           fold_ledger, ledger_entry, unique_events)
from .value import (DEFAULT_VALUE_RULES, ValueRecord, ValueRules, compute_value_record,
                    value_record)
from .value_history import (WINDOW_MOVE_STEP, AnnualValueChange, ValueHistoryEntry,
                            fold_value_history)

__all__ = ["CHECKPOINT_EVERY", "WINDOW_MOVE_ID", "Records", "full_fold", "next_window_move",
           "FoldState", "Fold", "fold_from", "START"]

#: A state is kept every this many points, so a late event re-folds at most this many points
#: before its own place (plus everything after it, which it changes).
CHECKPOINT_EVERY = 100
#: The event id of a window-move point: sorts before any event id at the same instant.
WINDOW_MOVE_ID = ""

Key = tuple[datetime, str]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def micros(at: datetime) -> int:
    """A time as whole microseconds since 1970-01-01 UTC (exact: a datetime's own resolution)."""
    return (at - _EPOCH) // WINDOW_MOVE_STEP


def moment(count: int) -> datetime:
    """The time :func:`micros` gave ``count`` for."""
    return _EPOCH + WINDOW_MOVE_STEP * count


# -- the definition ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Records:
    """A client's records as of ``now``, folded from everything stored for it."""

    ledger: list[LedgerEntry]
    history: list[ValueHistoryEntry]
    value: ValueRecord
    window_moves_at: datetime | None


def full_fold(annual_value: Money | None, events: Sequence[SatisfactionEvent],
              changes: Sequence[AnnualValueChange], now: datetime,
              satisfaction_rules: SatisfactionRules = DEFAULT_SATISFACTION_RULES,
              value_rules: ValueRules = DEFAULT_VALUE_RULES) -> Records:
    """The records from every input at once: what :func:`fold_from` must equal.
    ``annual_value`` is the client's current one (the value record's), ``changes`` every value
    staff entered (the history's)."""
    ledger = fold_ledger(events, satisfaction_rules)
    complaints = [event for event in events if event.is_complaint]
    history = fold_value_history(changes, ledger, complaints, value_rules, now=now)
    value = compute_value_record(annual_value, current(ledger), complaints, now, value_rules)
    return Records(ledger, history, value,
                   next_window_move((event.occurred_at for event in complaints
                                     if event.event_type == COMPLAINT_OPENED), now, value_rules))


def next_window_move(opened: Iterable[datetime], now: datetime,
                     rules: ValueRules = DEFAULT_VALUE_RULES) -> datetime | None:
    """The next instant after ``now`` at which ``complaints_90d`` changes by itself: a counted
    complaint leaves the window, or one dated in the future enters it. ``opened``: when the
    complaints were opened (at least every one from ``now`` − window on)."""
    window = timedelta(days=rules.window_days)
    moments = []
    for at in opened:
        if at > now:
            moments.append(at)
        leaves_at = at + window + WINDOW_MOVE_STEP
        if leaves_at > now:
            moments.append(leaves_at)
    return min(moments, default=None)


# -- the resumable pass ------------------------------------------------------------------------

@dataclass(frozen=True)
class FoldState:
    """The fold after the point ``(at, event_id)``, the ``points``-th (:data:`START`: before
    any). ``opened`` holds the openings folded so far from ``at`` − window on, in order, as
    :func:`micros`: the only ones a later window can count or a later window move can name."""

    at: datetime | None = None
    event_id: str = ""
    points: int = 0
    ledger_size: int = 0
    history_size: int = 0
    satisfaction: Decimal | None = None
    annual_value: Money | None = None
    open_complaints: OpenComplaints = NO_OPEN_COMPLAINTS
    opened: tuple[int, ...] = ()
    last_entry: tuple[str, Decimal, str] | None = None  # tier, health score, band

    @property
    def key(self) -> Key | None:
        return None if self.at is None else (self.at, self.event_id)


START = FoldState()


@dataclass(frozen=True)
class Fold:
    """What :func:`fold_from` produced from ``start``: the ledger and history entries from
    ``start.ledger_size`` / ``start.history_size`` on, the state at the end, the states to keep,
    and the current figures as of ``now``."""

    start: FoldState
    ledger: list[LedgerEntry]
    history: list[ValueHistoryEntry]
    end: FoldState
    #: The state after the last input dated at or before ``now`` (``start`` if none).
    tail: FoldState
    #: The states after every :data:`CHECKPOINT_EVERY`-th point at or before ``now``.
    checkpoints: list[FoldState]
    #: The state after the point ``mark`` named, when it is a point at or before ``now``.
    mark: FoldState | None
    value: ValueRecord
    window_moves_at: datetime | None

    @property
    def satisfaction(self) -> Decimal | None:
        return self.end.satisfaction

    def to_keep(self) -> list[FoldState]:
        """The states after ``start`` a store keeps: the periodic ones, the tail, the mark."""
        kept = {state.points: state for state in self.checkpoints}
        for state in (self.tail, self.mark):
            if state is not None and state.points > self.start.points:
                kept.setdefault(state.points, state)
        return [kept[points] for points in sorted(kept)]


@dataclass
class _Point:
    cause: dict[str, str] | None
    changes: list[AnnualValueChange] = field(default_factory=list)
    events: list[SatisfactionEvent] = field(default_factory=list)


def _moves_records(event: SatisfactionEvent) -> bool:
    """Whether the event is a point: it adds a ledger entry or moves the complaint counts."""
    return event.is_complaint or (event.event_type == SURVEY_RESPONSE_SUBMITTED
                                  and event.score is not None)


def fold_from(start: FoldState, events: Iterable[SatisfactionEvent],
              changes: Iterable[AnnualValueChange], *, now: datetime,
              annual_value: Money | None,
              satisfaction_rules: SatisfactionRules = DEFAULT_SATISFACTION_RULES,
              value_rules: ValueRules = DEFAULT_VALUE_RULES,
              checkpoint_every: int = CHECKPOINT_EVERY, mark: Key | None = None) -> Fold:
    """Continue the fold from ``start`` over the inputs after its point (``events`` and
    ``changes`` may hold earlier ones too; they are skipped). ``start`` must be :data:`START` or
    a state this function produced, for the same inputs up to its point, dated at or before
    ``now``; ``annual_value`` is the client's current one, for the value record now; ``mark``
    the place ``(time, event id)`` of a point whose state to return too."""
    after = start.key
    window = timedelta(days=value_rules.window_days)
    points: dict[Key, _Point] = {}

    def point(key: Key, event_type: str) -> _Point:
        if key not in points:
            points[key] = _Point({"event_id": key[1], "event_type": event_type})
        return points[key]

    seen_changes: set[str] = set()
    for change in changes:
        key = (change.at, change.event_id)
        if change.event_id in seen_changes or (after is not None and key <= after):
            continue
        seen_changes.add(change.event_id)
        point(key, change.event_type).changes.append(change)
    openings = list(start.opened)  # in order: every new one is at or after the start
    last_input: Key | None = None
    for event in unique_events(events):
        key = event.order_key
        if (after is not None and key <= after) or not _moves_records(event):
            continue
        point(key, event.event_type).events.append(event)
        if event.event_type == COMPLAINT_OPENED:
            openings.append(micros(event.occurred_at))
    for key in points:
        if key[0] <= now and (last_input is None or key > last_input):
            last_input = key
    # only the openings that have left the window by ``now``
    for opened_at in openings[:bisect_right(openings, micros(now - window - WINDOW_MOVE_STEP))]:
        key = (moment(opened_at) + window + WINDOW_MOVE_STEP, WINDOW_MOVE_ID)
        if after is None or key > after:
            points.setdefault(key, _Point(None))

    ledger: list[LedgerEntry] = []
    history: list[ValueHistoryEntry] = []
    checkpoints: list[FoldState] = []
    satisfaction = start.satisfaction
    annual = start.annual_value
    counts = start.open_complaints
    opened = list(start.opened)
    last_entry = start.last_entry
    count = start.points
    tail = start
    marked: FoldState | None = None

    def state(key: Key) -> FoldState:
        return FoldState(at=key[0], event_id=key[1], points=count,
                         ledger_size=start.ledger_size + len(ledger),
                         history_size=start.history_size + len(history),
                         satisfaction=satisfaction, annual_value=annual, open_complaints=counts,
                         opened=tuple(opened), last_entry=last_entry)

    key: Key | None = after
    for key in sorted(points):
        at = key[0]
        inputs = points[key]
        for change in inputs.changes:
            annual = change.annual_value
        for event in inputs.events:
            entry = ledger_entry(event, satisfaction, satisfaction_rules)
            if entry is not None:
                ledger.append(entry)
                satisfaction = entry.value
            if event.is_complaint:
                counts = count_complaint_event(counts, event)
                if event.event_type == COMPLAINT_OPENED:
                    opened.append(micros(event.occurred_at))
        del opened[:bisect_left(opened, micros(min(at, now) - window))]
        record = value_record(annual, satisfaction, counts, _in_window(opened, at, window),
                              value_rules)
        shown = (record.tier, record.health_score, record.health_band)
        if shown != last_entry:
            history.append(ValueHistoryEntry(
                at=at, cause=inputs.cause, tier=record.tier, health_score=record.health_score,
                health_band=record.health_band, value_at_risk=record.value_at_risk))
            last_entry = shown
        count += 1
        if at > now:
            continue
        here = None
        if count % checkpoint_every == 0:
            here = state(key)
            checkpoints.append(here)
        if key == last_input:
            tail = here = here or state(key)
        if key == mark:
            marked = here or state(key)
    end = start if key == after else state(key)
    value = value_record(annual_value, satisfaction, counts, _in_window(opened, now, window),
                         value_rules)
    return Fold(start=start, ledger=ledger, history=history, end=end, tail=tail,
                checkpoints=checkpoints, mark=marked, value=value,
                window_moves_at=_next_window_move(opened, now, window))


def _in_window(opened: list[int], at: datetime, window: timedelta) -> int:
    """How many of the openings ``opened`` (:func:`micros`, in order) are in [at − window, at]
    (``complaints_in_window``)."""
    return bisect_right(opened, micros(at)) - bisect_left(opened, micros(at - window))


def _next_window_move(opened: list[int], now: datetime, window: timedelta) -> datetime | None:
    """:func:`next_window_move` over the openings ``opened`` (:func:`micros`, in order): the
    first one after ``now``, or the first one still counted leaving the window, whichever
    comes first."""
    moments = []
    future = bisect_right(opened, micros(now))
    if future < len(opened):
        moments.append(moment(opened[future]))
    counted = bisect_left(opened, micros(now - window))  # leaves after now
    if counted < len(opened):
        moments.append(moment(opened[counted]) + window + WINDOW_MOVE_STEP)
    return min(moments, default=None)
