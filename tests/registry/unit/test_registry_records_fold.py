"""The records folded on from a stored state equal the records folded from every input at once.

``MemoryStore`` keeps what the registry keeps for a client (inputs, ledger, history, the fold
states ``records.py`` stores: periodic, tail, the state after the input stored last) and folds
each new input on from the latest state before its place, as the registry does. Whatever the
order inputs arrive in — late, twice, with time moving on — its records must be exactly
``full_fold``'s over everything it holds."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.registry.domain.events import SatisfactionEvent
from services.registry.domain.money import Money
from services.registry.domain.records_fold import (START, Fold, FoldState, fold_from,
                                                   full_fold)
from services.registry.domain.value import ValueRules
from services.registry.domain.value_history import AnnualValueChange

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
SEVERITIES = ("low", "medium", "high", "critical")
KINDS = ("survey", "survey", "unscored", "opened", "opened", "resolved", "reopened",
         "reclassified", "waiting")
AMOUNTS = (None, "42000.50", "150000.00", "2500000.00")


def make_event(number: int, kind: str, at: datetime, severity: str, other: str, score: int,
               within_sla: bool, ref: int) -> SatisfactionEvent:
    event_id = f"evt-{number:05d}"
    if kind in ("survey", "unscored"):
        return SatisfactionEvent.from_bus(event_id, "survey.response.submitted", at,
                                          {"score": score if kind == "survey" else None})
    data = {"ref": f"CMP-{ref:06d}", "severity": severity, "within_sla": within_sla,
            "previous_severity": other}
    return SatisfactionEvent.from_bus(event_id, f"complaint.{kind}", at, data)


def make_change(number: int, at: datetime, amount: str | None) -> AnnualValueChange:
    return AnnualValueChange(f"chg-{number:04d}", "client.updated", at,
                             None if amount is None else Money(Decimal(amount), "CNY"))


class MemoryStore:
    """One client's stored inputs, records and fold states, kept as ``records.py`` keeps them."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.events: dict[str, SatisfactionEvent] = {}
        self.changes: list[AnnualValueChange] = []
        self.annual_value: Money | None = None
        self.ledger: list = []
        self.history: list = []
        self.states: dict[int, FoldState] = {}
        self.fold: Fold | None = None
        self.folded_from: list[int] = []

    def add_event(self, event: SatisfactionEvent, now: datetime) -> None:
        if event.event_id in self.events:
            return  # the same event twice changes nothing
        self.events[event.event_id] = event
        self._fold(event.order_key, now)

    def add_change(self, change: AnnualValueChange, now: datetime) -> None:
        self.changes.append(change)
        self.annual_value = change.annual_value
        self._fold((change.at, change.event_id), now)

    def tick(self, now: datetime) -> None:
        """The periodic job: nothing new stored, time moved on."""
        self._fold((now, ""), now)

    def _fold(self, since, now: datetime) -> None:
        usable = [state for state in self.states.values()
                  if state.at <= now and state.key < since]
        start = max(usable, key=lambda state: state.points, default=START)
        self.folded_from.append(len([event for event in self.events.values()
                                     if start.key is None or event.order_key > start.key]))
        fold = fold_from(start, list(self.events.values()), self.changes, now=now,
                         annual_value=self.annual_value, checkpoint_every=self.every, mark=since)
        self.ledger[start.ledger_size:] = fold.ledger
        self.history[start.history_size:] = fold.history
        self.states = {points: state for points, state in self.states.items()
                       if points <= start.points and (points % self.every == 0
                                                      or (fold.tail is start
                                                          and points == start.points))}
        self.states.update({state.points: state for state in fold.to_keep()})
        self.fold = fold

    def assert_equals_full_fold(self, now: datetime) -> None:
        expected = full_fold(self.annual_value, list(self.events.values()), self.changes, now)
        assert self.ledger == expected.ledger
        assert self.history == expected.history
        assert self.fold.value == expected.value
        assert self.fold.window_moves_at == expected.window_moves_at
        assert self.fold.satisfaction == (expected.ledger[-1].value if expected.ledger else None)


def test_folding_from_the_start_is_the_full_fold_and_any_kept_state_resumes_it():
    rng = random.Random(7)
    events = [make_event(number, rng.choice(KINDS), T0 + timedelta(days=rng.uniform(0, 300)),
                         rng.choice(SEVERITIES), rng.choice(SEVERITIES), rng.randint(0, 100),
                         rng.random() < 0.5, rng.randrange(40)) for number in range(800)]
    changes = [make_change(number, T0 + timedelta(days=rng.uniform(-3, 300)), rng.choice(AMOUNTS))
               for number in range(5)]
    now = T0 + timedelta(days=250)
    annual = Money(Decimal("150000.00"), "CNY")
    expected = full_fold(annual, events, changes, now)

    whole = fold_from(START, events, changes, now=now, annual_value=annual, checkpoint_every=25)
    assert (whole.ledger, whole.history, whole.value, whole.window_moves_at) == \
        (expected.ledger, expected.history, expected.value, expected.window_moves_at)
    assert len(whole.checkpoints) > 10 and all(state.at <= now for state in whole.to_keep())
    for state in whole.checkpoints + [whole.tail]:
        later = now + timedelta(days=40)  # a state stays valid as time moves on
        again = full_fold(annual, events, changes, later)
        resumed = fold_from(state, events, changes, now=later, annual_value=annual,
                            checkpoint_every=25)
        assert resumed.ledger == again.ledger[state.ledger_size:]
        assert resumed.history == again.history[state.history_size:]
        assert (resumed.value, resumed.window_moves_at) == (again.value, again.window_moves_at)


@st.composite
def deliveries(draw):
    """Inputs of one client and the order they arrive in: shuffled, some twice, with time
    moving on and the periodic job running now and then."""
    count = draw(st.integers(min_value=0, max_value=120))
    events = []
    for number in range(count):
        day = draw(st.integers(min_value=0, max_value=240))
        minute = draw(st.sampled_from((0, 0, 1, 17)))  # ties in time, ordered by event id
        events.append(make_event(
            number, draw(st.sampled_from(KINDS)), T0 + timedelta(days=day, minutes=minute),
            draw(st.sampled_from(SEVERITIES)), draw(st.sampled_from(SEVERITIES)),
            draw(st.integers(min_value=0, max_value=100)), draw(st.booleans()),
            draw(st.integers(min_value=0, max_value=12))))
    changes = [make_change(number, T0 + timedelta(days=draw(st.integers(-2, 240))),
                           draw(st.sampled_from(AMOUNTS)))
               for number in range(draw(st.integers(min_value=0, max_value=3)))]
    order = draw(st.permutations(list(range(count + len(changes)))))
    twice = draw(st.lists(st.integers(min_value=0, max_value=max(count - 1, 0)), max_size=15))
    steps = [("event", events[index]) if index < count else ("change", changes[index - count])
             for index in order]
    for index in twice if count else ():
        steps.insert(draw(st.integers(min_value=0, max_value=len(steps))), ("event", events[index]))
    ticks = draw(st.lists(st.integers(min_value=0, max_value=len(steps)), max_size=6))
    for position in sorted(ticks, reverse=True):
        # the job runs some days later, or at the very instant a complaint leaves the window
        exact = draw(st.integers(min_value=0, max_value=max(count - 1, 0))) if count else None
        steps.insert(position, ("tick", None if exact is None or draw(st.booleans())
                                else events[exact].occurred_at + timedelta(days=90,
                                                                           microseconds=1)))
    return steps, draw(st.sampled_from((3, 7, 100)))


@settings(max_examples=60, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(deliveries())
def test_inputs_in_any_order_twice_or_late_give_the_full_fold(case):
    steps, every = case
    store = MemoryStore(every)
    now = T0
    for kind, item in steps:
        if kind == "tick":
            now = max(now, item) if item is not None else now + timedelta(days=13)
            store.tick(now)
        elif kind == "change":
            now = max(now, item.at)
            store.add_change(item, now)
        else:
            # mostly "now" follows the events; some arrive dated after it
            now = max(now, item.occurred_at - timedelta(days=2))
            store.add_event(item, now)
        if store.fold is not None:
            store.assert_equals_full_fold(now)


@pytest.mark.parametrize("seed", [1, 2])
def test_thousands_of_events_late_and_twice_fold_on_from_a_nearby_state(seed):
    """3,000 events of one client over two years, delivered mostly in time order but a fifth
    of them late (up to 30 days) and some twice: the records equal the full fold all along,
    and an event folds on from a state near its own place, not from the start."""
    rng = random.Random(seed)
    events = [make_event(number, rng.choice(KINDS),
                         T0 + timedelta(minutes=number * 350 + rng.randint(0, 300)),
                         rng.choice(SEVERITIES), rng.choice(SEVERITIES), rng.randint(0, 100),
                         rng.random() < 0.5, number // 7) for number in range(3000)]
    arrival = sorted(events, key=lambda event: event.occurred_at
                     + (timedelta(days=rng.uniform(0, 30)) if rng.random() < 0.2 else timedelta()))
    for index in rng.sample(range(len(arrival)), 150):
        arrival.insert(min(len(arrival), index + rng.randint(1, 400)), arrival[index])
    store = MemoryStore(every=100)
    store.add_change(make_change(0, T0 - timedelta(days=1), "150000.00"), T0)
    now = T0
    for number, event in enumerate(arrival):
        now = max(now, event.occurred_at + timedelta(hours=1))
        if number % 400 == 399:
            store.add_change(make_change(number, now, rng.choice(AMOUNTS)), now)
        store.add_event(event, now)
        if number % 300 == 0:
            store.assert_equals_full_fold(now)
    store.tick(now + timedelta(days=100))
    store.assert_equals_full_fold(now + timedelta(days=100))
    assert len(store.events) == 3000 and len(store.ledger) > 2000
    late = [folded for folded in store.folded_from if folded > 3]
    # In-order events fold on from the state right before them; late ones from a checkpoint
    # at most 100 points before their place (plus the events after it, which they change).
    assert sorted(store.folded_from)[len(store.folded_from) // 2] <= 3
    assert late and max(store.folded_from) < 3000 // 4
