"""The value history: an entry only when tier, health score or band changed."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from services.registry.domain.money import Money
from services.registry.domain.satisfaction import fold_ledger
from services.registry.domain.value import ValueRules
from services.registry.domain.value_history import AnnualValueChange, fold_value_history


def value_set(amount, at, event_id="reg-1", event_type="client.registered"):
    return AnnualValueChange(event_id=event_id, event_type=event_type, at=at,
                             annual_value=None if amount is None else Money(Decimal(amount),
                                                                            "CNY"))


def history_of(changes=(), feedback_and_complaints=(), rules=ValueRules(), now=None):
    events = list(feedback_and_complaints)
    return fold_value_history(changes, fold_ledger(events), events, rules, now=now)


def summary(history):
    return [(entry.tier, str(entry.health_score), entry.health_band) for entry in history]


def test_first_known_state_opens_the_history(events):
    history = history_of([value_set("150000.00", events.at(0))])

    assert summary(history) == [("B", "82.0", "healthy")]
    assert history[0].at == events.at(0)
    assert history[0].cause == {"event_id": "reg-1", "event_type": "client.registered"}
    assert history[0].value_at_risk == 0


def test_entry_appended_for_each_change_with_its_cause(events):
    opening = events.opened("high", day=1)
    resolution = events.resolved("high", within_sla=True, day=2)

    history = history_of([value_set("150000.00", events.at(0))], [opening, resolution])

    # opened: S 60, C 100 − 25 − 5 = 70 → 36 + 28 = 64 at_risk;
    # resolved: S 65, C 95 → 39 + 38 = 77 healthy
    assert summary(history) == [("B", "82.0", "healthy"), ("B", "64.0", "at_risk"),
                                ("B", "77.0", "healthy")]
    assert [entry.cause["event_id"] for entry in history] == ["reg-1", opening.event_id,
                                                              resolution.event_id]
    assert history[1].value_at_risk == Decimal("75000.000")


def test_event_that_changes_nothing_visible_adds_no_entry(events):
    changes = [value_set("150000.00", events.at(0)),
               value_set("160000.00", events.at(1), event_id="upd-1",
                         event_type="client.updated")]

    history = history_of(changes, [events.feedback(None, day=2)])

    assert len(history) == 1


def test_tier_change_is_recorded_with_the_update_that_caused_it(events):
    changes = [value_set("150000.00", events.at(0)),
               value_set("1000000.00", events.at(1), event_id="upd-1",
                         event_type="client.updated")]

    history = history_of(changes)

    assert [entry.tier for entry in history] == ["B", "A"]
    assert history[1].cause == {"event_id": "upd-1", "event_type": "client.updated"}


def test_complaint_leaving_the_90_day_window_is_a_change_without_cause(events):
    opening = events.opened("low", day=0)
    resolution = events.resolved("low", day=1)

    history = history_of([value_set("150000.00", events.at(-1))], [opening, resolution],
                         now=events.at(200))

    # S 69 after the low complaint's round trip: 41.4 + 0.4 × (100 − 5 recent) = 79.4;
    # once the opening is more than 90 days old C is back to 100: 41.4 + 40 = 81.4
    assert summary(history)[-2:] == [("B", "79.4", "healthy"), ("B", "81.4", "healthy")]
    assert history[-1].cause is None
    # still counted on day 90 itself; gone the first instant after
    assert history[-1].at == opening.occurred_at + timedelta(days=90, microseconds=1)


def test_window_moves_after_now_are_not_in_the_history_yet(events):
    complaints = [events.opened("low", day=0), events.resolved("low", day=1)]

    history = history_of(feedback_and_complaints=complaints, now=events.at(90))

    assert all(entry.cause is not None for entry in history)


def test_window_moves_up_to_the_latest_input_without_now(events):
    complaints = [events.opened("low", day=0), events.resolved("low", day=1)]
    same_tier_update = value_set("160000.00", events.at(120), event_id="upd-1",
                                 event_type="client.updated")

    without_later_input = history_of([value_set("150000.00", events.at(-1))], complaints)
    with_later_input = history_of([value_set("150000.00", events.at(-1)), same_tier_update],
                                  complaints)

    assert [entry.cause is None for entry in without_later_input] == [False, False, False]
    assert [entry.cause is None for entry in with_later_input] == [False, False, False, True]


def test_late_event_rewrites_the_history_in_event_time_order(events):
    resolution = events.resolved("critical", within_sla=False, day=3)
    opening = events.opened("critical", day=1)
    changes = [value_set("2000000.00", events.at(0))]

    delivered_in_order = history_of(changes, [opening, resolution])
    resolution_first = history_of(changes, [resolution, opening])

    assert resolution_first == delivered_in_order
    assert [entry.cause and entry.cause["event_type"] for entry in resolution_first] == [
        "client.registered", "complaint.opened", "complaint.resolved"]


def test_one_complaint_event_moves_satisfaction_and_counts_in_one_entry(events):
    history = history_of(feedback_and_complaints=[events.opened("critical", day=1)])

    # S 50 and C 100 − 25 − 5 = 70 together: 30 + 28 = 58, not an intermediate state
    assert summary(history) == [("C", "58.0", "at_risk")]


def test_duplicate_inputs_are_applied_once(events):
    opening = events.opened("high", day=1)
    change = value_set("150000.00", events.at(0))

    assert history_of([change, change], [opening, opening]) == history_of([change], [opening])


def test_history_entry_as_shown_carries_money(events):
    history = history_of([value_set("150000.01", events.at(0))],
                         [events.opened("critical", day=1)])

    assert history[-1].as_output("CNY") == {
        "at": events.at(1),
        "cause": history[-1].cause,
        "tier": "B",
        "health_score": Decimal("58.0"),
        "health_band": "at_risk",
        "value_at_risk": {"amount": "75000.01", "currency": "CNY"},
    }
