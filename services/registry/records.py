"""Satisfaction and value records: apply a feedback or complaint event, re-fold, save, publish.

A client's records are folds (``services.registry.domain``) over what the registry stored: the
applied events (``client_event``) and the annual values staff entered
(``annual_value_change``). Every use case here runs in the caller's transaction with the client
row locked, so concurrent consumers, the periodic job and staff edits of one client queue up:

1. store the new input (an event already stored for the client changes nothing);
2. fold the ledger, the value history and the current value record from *all* stored inputs, so
   a late event takes its place in event-time order and everything after it is recomputed;
3. save what changed (ledger and history rows from the first difference on, the current
   figures on the client row);
4. in the same transaction, record ``client.satisfaction.changed`` when S as shown changed and
   ``client.value.changed`` when tier, health score or band changed, naming the cause.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable, Sequence

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.orm import Session

from services.registry.adapters.orm import (AnnualValueChangeRecord, ClientEventRecord,
                                            ClientRecord, SatisfactionEntryRecord,
                                            ValueHistoryRecord, platform)
from services.registry.domain.events import COMPLAINT_OPENED, SatisfactionEvent
from services.registry.domain.money import MONEY_PLACES, Money, money_output
from services.registry.domain.rounding import round_half_up
from services.registry.domain.satisfaction import LedgerEntry, current, fold_ledger
from services.registry.domain.value import ValueRecord, compute_value_record
from services.registry.domain.value_history import (WINDOW_MOVE_STEP, AnnualValueChange,
                                                    ValueHistoryEntry, fold_value_history)
from services.registry.rules import RegistryRules
from shared.bus.envelope import Event
from shared.bus.outbox import record_event
from shared.clock import as_utc
from shared.errors import NotFound, ValidationFailed

SERVICE = "registry"
log = logging.getLogger("clientloop.registry.records")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class UnknownClientEvent(NotFound):
    """An event names a client the registry does not hold. The consumer retries it with
    backoff, then dead-letters it (``clientloop dlq list registry``)."""


@dataclass(frozen=True)
class Records:
    """A client's records as of ``now``: folds over everything stored for it."""

    ledger: list[LedgerEntry]
    history: list[ValueHistoryEntry]
    value: ValueRecord
    window_moves_at: datetime | None


# -- reading what is stored -------------------------------------------------------------------

def lock_client(session: Session, client_id: str) -> ClientRecord | None:
    return session.execute(
        select(ClientRecord).where(ClientRecord.id == client_id).with_for_update()
        .execution_options(populate_existing=True)).scalar_one_or_none()


_EVENT_COLUMNS = (ClientEventRecord.event_id, ClientEventRecord.event_type,
                  ClientEventRecord.occurred_at, ClientEventRecord.score, ClientEventRecord.severity,
                  ClientEventRecord.previous_severity, ClientEventRecord.within_sla,
                  ClientEventRecord.ref)


def stored_events(session: Session, client_id: str) -> list[SatisfactionEvent]:
    rows = session.execute(select(*_EVENT_COLUMNS).where(ClientEventRecord.client_id == client_id)).all()
    return [_event_of(row) for row in rows]


def _event_of(row) -> SatisfactionEvent:
    return SatisfactionEvent(
        event_id=row.event_id, event_type=row.event_type, occurred_at=as_utc(row.occurred_at),
        score=None if row.score is None else Decimal(row.score), severity=row.severity,
        previous_severity=row.previous_severity, within_sla=row.within_sla, ref=row.ref)


def stored_annual_value_changes(session: Session, client_id: str) -> list[AnnualValueChange]:
    rows = session.execute(select(AnnualValueChangeRecord)
                           .where(AnnualValueChangeRecord.client_id == client_id)).scalars().all()
    changes = [AnnualValueChange(
        event_id=row.event_id, event_type=row.event_type, at=as_utc(row.at),
        annual_value=None if row.amount is None else Money(Decimal(row.amount), row.currency))
        for row in rows]
    return sorted(changes, key=lambda change: (change.at, change.event_id))


def annual_value_of(client: ClientRecord) -> Money | None:
    if client.annual_amount is None:
        return None
    return Money(Decimal(client.annual_amount), client.annual_currency)


# -- folding -----------------------------------------------------------------------------------

def fold_records(annual_value: Money | None, events: Sequence[SatisfactionEvent],
                 changes: Sequence[AnnualValueChange], now: datetime,
                 rules: RegistryRules) -> Records:
    ledger = fold_ledger(events, rules.satisfaction)
    complaints = [event for event in events if event.is_complaint]
    history = fold_value_history(changes, ledger, complaints, rules.value, now=now)
    value = compute_value_record(annual_value, current(ledger), complaints, now, rules.value)
    return Records(ledger, history, value, next_window_move(complaints, now, rules))


def next_window_move(complaints: Iterable[SatisfactionEvent], now: datetime,
                     rules: RegistryRules) -> datetime | None:
    """The next instant after ``now`` at which ``complaints_90d`` changes by itself: a counted
    complaint leaves the window, or one dated in the future enters it."""
    window = timedelta(days=rules.value.window_days)
    moments = []
    for event in complaints:
        if event.event_type != COMPLAINT_OPENED:
            continue
        if event.occurred_at > now:
            moments.append(event.occurred_at)
        leaves_at = event.occurred_at + window + WINDOW_MOVE_STEP
        if leaves_at > now:
            moments.append(leaves_at)
    return min(moments, default=None)


# -- use cases ---------------------------------------------------------------------------------

def apply_event(session: Session, event: Event, *, now: datetime, rules: RegistryRules) -> bool:
    """Apply one feedback or complaint event from the bus. False if it was already applied.

    Raises :class:`ValidationFailed` for data the folds cannot use and
    :class:`UnknownClientEvent` for a client the registry does not hold; the consumer retries
    both and then dead-letters the event.
    """
    applied = SatisfactionEvent.from_bus(event.id, event.type, event.time, event.data)
    client_id = event.data.get("client_id") or event.subject
    if not isinstance(client_id, str) or not _UUID.match(client_id):
        raise ValidationFailed({"data.client_id": ["Must be a client id (a UUID)."]},
                               detail=f"Event {event.id} names no client.")
    client = lock_client(session, client_id.lower())
    if client is None:
        raise UnknownClientEvent(f"Event {event.id} ({event.type}) names client {client_id}, "
                                 "which the registry does not hold.")
    events = stored_events(session, client.id)
    if any(stored.event_id == applied.event_id for stored in events):
        return False
    session.execute(insert(ClientEventRecord).values(
        client_id=client.id, event_id=applied.event_id, event_type=applied.event_type,
        occurred_at=applied.occurred_at,
        score=None if applied.score is None else str(applied.score),
        severity=applied.severity, previous_severity=applied.previous_severity,
        within_sla=applied.within_sla, ref=applied.ref, received_at=now))
    refresh(session, client, now=now, rules=rules, cause=applied.cause, events=[*events, applied])
    return True


def record_annual_value(session: Session, client: ClientRecord, *, event_id: str,
                        event_type: str, at: datetime) -> None:
    """Staff set the annual value (registration or edit); ``event_id`` is the registry event
    that says so, and becomes the cause of the value history entry it produces."""
    session.execute(insert(AnnualValueChangeRecord).values(
        client_id=client.id, event_id=event_id, event_type=event_type, at=at,
        amount=client.annual_amount, currency=client.annual_currency))


def refresh(session: Session, client: ClientRecord, *, now: datetime, rules: RegistryRules,
            cause: dict[str, str] | None, announce: bool = True,
            previous: "ShownState | None" = None,
            events: Sequence[SatisfactionEvent] | None = None) -> Records:
    """Re-fold the client's records from what is stored, save them, and (with ``announce``)
    record the change events against ``previous`` (default: the figures on the client row).
    The client row must be locked (or new) in this transaction."""
    if events is None:
        events = stored_events(session, client.id)
    records = fold_records(annual_value_of(client), events,
                           stored_annual_value_changes(session, client.id), now, rules)
    _save_ledger(session, client.id, records.ledger, rules)
    _save_history(session, client.id, records.history)
    previous = previous or shown_state(client)
    _save_current(client, records, now, rules)
    if announce:
        _announce(session, client, previous, records, cause, now, rules)
    return records


def recompute_due_clients(database, *, now: datetime, rules: RegistryRules,
                          batch: int = 500) -> int:
    """The periodic job's part for records: re-fold every client whose 90-day window moved by
    ``now`` (or whose records were folded under other rules). Publishes
    ``client.value.changed`` with ``cause`` null where tier, health score or band moved.
    Each client is its own transaction; running it twice, or twice at once, is harmless.
    Returns how many clients were recomputed."""
    done = 0
    after = ""
    while True:
        with database.transaction() as session:
            ids = session.execute(
                select(ClientRecord.id).where(_due_for_recompute(now, rules), ClientRecord.id > after)
                .order_by(ClientRecord.id).limit(batch)).scalars().all()
        if not ids:
            return done
        for client_id in ids:
            try:
                with database.transaction() as session:
                    client = lock_client(session, client_id)
                    if client is None or not _is_due_for_recompute(client, now, rules):
                        continue  # someone else did it meanwhile
                    refresh(session, client, now=now, rules=rules, cause=None)
                    done += 1
            except Exception:  # noqa: BLE001 - one client's failure must not stop the others
                log.exception("recomputing a client's records failed", extra={"client_id": client_id})
        after = ids[-1]


def _due_for_recompute(now: datetime, rules: RegistryRules):
    return or_(ClientRecord.window_moves_at <= now, ClientRecord.records_rules.is_(None),
               ClientRecord.records_rules != rules.fingerprint)


def _is_due_for_recompute(client: ClientRecord, now: datetime, rules: RegistryRules) -> bool:
    moves_at = as_utc(client.window_moves_at)
    return (moves_at is not None and moves_at <= now) or client.records_rules != rules.fingerprint


# -- saving ------------------------------------------------------------------------------------

def shown(value: Decimal | None, places: int) -> Decimal | None:
    return None if value is None else round_half_up(value, places)


def _save_ledger(session: Session, client_id: str, ledger: list[LedgerEntry],
                 rules: RegistryRules) -> None:
    places = rules.satisfaction.places
    new = [(entry.event_id, entry.event_type, entry.occurred_at, shown(entry.delta, places),
            shown(entry.value, places), entry.reason) for entry in ledger]
    stored = [(row.event_id, row.event_type, as_utc(row.occurred_at),
               None if row.delta is None else Decimal(row.delta), Decimal(row.value), row.reason)
              for row in session.execute(select(
                  SatisfactionEntryRecord.event_id, SatisfactionEntryRecord.event_type,
                  SatisfactionEntryRecord.occurred_at, SatisfactionEntryRecord.delta,
                  SatisfactionEntryRecord.value, SatisfactionEntryRecord.reason)
                  .where(SatisfactionEntryRecord.client_id == client_id)
                  .order_by(SatisfactionEntryRecord.position))]
    start = _first_difference(stored, new)
    if start is None:
        return
    session.execute(delete(SatisfactionEntryRecord).where(
        SatisfactionEntryRecord.client_id == client_id, SatisfactionEntryRecord.position >= start))
    rows = [{"client_id": client_id, "position": position, "event_id": event_id,
             "event_type": event_type, "occurred_at": occurred_at, "delta": delta,
             "value": value, "reason": reason}
            for position, (event_id, event_type, occurred_at, delta, value, reason)
            in enumerate(new[start:], start)]
    if rows:
        session.execute(insert(SatisfactionEntryRecord), rows)


def _save_history(session: Session, client_id: str, history: list[ValueHistoryEntry]) -> None:
    new = [(entry.at, (entry.cause or {}).get("event_id"), (entry.cause or {}).get("event_type"),
            entry.tier, entry.health_score, entry.health_band,
            round_half_up(entry.value_at_risk, MONEY_PLACES)) for entry in history]
    stored = [(as_utc(row.at), row.cause_event_id, row.cause_event_type, row.tier,
               Decimal(row.health_score), row.health_band, Decimal(row.value_at_risk))
              for row in session.execute(select(
                  ValueHistoryRecord.at, ValueHistoryRecord.cause_event_id,
                  ValueHistoryRecord.cause_event_type, ValueHistoryRecord.tier,
                  ValueHistoryRecord.health_score, ValueHistoryRecord.health_band,
                  ValueHistoryRecord.value_at_risk)
                  .where(ValueHistoryRecord.client_id == client_id)
                  .order_by(ValueHistoryRecord.position))]
    start = _first_difference(stored, new)
    if start is None:
        return
    session.execute(delete(ValueHistoryRecord).where(
        ValueHistoryRecord.client_id == client_id, ValueHistoryRecord.position >= start))
    rows = [{"client_id": client_id, "position": position, "at": at, "cause_event_id": event_id,
             "cause_event_type": event_type, "tier": tier, "health_score": score,
             "health_band": band, "value_at_risk": at_risk}
            for position, (at, event_id, event_type, tier, score, band, at_risk)
            in enumerate(new[start:], start)]
    if rows:
        session.execute(insert(ValueHistoryRecord), rows)


def _first_difference(stored: list[tuple], new: list[tuple]) -> int | None:
    """The first position where the stored rows and the new fold differ, None if identical."""
    for position, (old, fresh) in enumerate(zip(stored, new)):
        if old != fresh:
            return position
    if len(stored) == len(new):
        return None
    return min(len(stored), len(new))


@dataclass(frozen=True)
class ShownState:
    satisfaction: Decimal | None
    tier: str | None
    health_score: Decimal | None
    health_band: str | None


def shown_state(client: ClientRecord) -> ShownState:
    return ShownState(None if client.satisfaction is None else Decimal(client.satisfaction),
                  client.tier, None if client.health_score is None else Decimal(client.health_score),
                  client.health_band)


def _save_current(client: ClientRecord, records: Records, now: datetime,
                  rules: RegistryRules) -> None:
    value = records.value
    client.satisfaction = shown(current(records.ledger), rules.satisfaction.places)
    client.tier = value.tier
    client.health_score = value.health_score
    client.health_band = value.health_band
    client.open_low = value.open_complaints.low
    client.open_medium = value.open_complaints.medium
    client.open_high = value.open_complaints.high
    client.open_critical = value.open_complaints.critical
    client.complaints_90d = value.complaints_90d
    client.value_at_risk = round_half_up(value.value_at_risk, MONEY_PLACES)
    client.window_moves_at = records.window_moves_at
    client.records_at = now
    client.records_rules = rules.fingerprint


def _announce(session: Session, client: ClientRecord, previous: ShownState, records: Records,
              cause: dict[str, str] | None, now: datetime, rules: RegistryRules) -> None:
    satisfaction = shown(current(records.ledger), rules.satisfaction.places)
    # Only events move S, so a change always has a cause. (The one exception, an installation
    # changing the satisfaction rules, re-folds S silently: the event's schema needs a cause.)
    if satisfaction != previous.satisfaction and cause is not None:
        _publish(session, "client.satisfaction.changed", client,
                 satisfaction_changed_data(client.id, previous.satisfaction, satisfaction,
                                           records.ledger, cause), now)
    value = records.value
    if (value.tier, value.health_score, value.health_band) != \
            (previous.tier, previous.health_score, previous.health_band):
        _publish(session, "client.value.changed", client,
                 value_changed_data(client, value, previous, cause, rules), now)


def satisfaction_changed_data(client_id: str, previous: Decimal | None, now_shown: Decimal | None,
                              ledger: list[LedgerEntry], cause: dict[str, str] | None) -> dict[str, Any]:
    data: dict[str, Any] = {"client_id": client_id, "previous": _number(previous),
                            "current": _number(now_shown), "cause": cause}
    if previous is not None and now_shown is not None:
        data["delta"] = _number(now_shown - previous)
    causing = [entry for entry in ledger if cause and entry.event_id == cause["event_id"]]
    if causing:
        data["reason"] = causing[0].reason
    return data


def value_changed_data(client: ClientRecord, value: ValueRecord, previous: ShownState,
                       cause: dict[str, str] | None, rules: RegistryRules) -> dict[str, Any]:
    return {
        "client_id": client.id,
        "tier": value.tier,
        "annual_value": None if value.annual_value is None else value.annual_value.as_output(),
        "health_score": _number(value.health_score),
        "health_band": value.health_band,
        "previous_band": previous.health_band,
        "previous_tier": previous.tier,
        "previous_health_score": _number(previous.health_score),
        "value_at_risk": money_output(value.value_at_risk, rules.clients.currency),
        "open_complaints": value.open_complaints.as_dict(),
        "complaints_90d": value.complaints_90d,
        "cause": cause,
    }


def _number(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _publish(session: Session, event_type: str, client: ClientRecord, data: dict[str, Any],
             now: datetime) -> None:
    record_event(session, platform, service=SERVICE, event_type=event_type, subject=client.id,
                 data=data, time=now)
