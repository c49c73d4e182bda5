"""Satisfaction and value records: apply a feedback or complaint event, fold, save, publish.

A client's records are folds (``services.registry.domain``) over what the registry stored: the
applied events (``client_event``) and the annual values staff entered
(``annual_value_change``). Every use case here runs in the caller's transaction with the client
row locked, so concurrent consumers, the periodic job and staff edits of one client queue up:

1. store the new input (an event already stored for the client changes nothing); an event
   that moves only a complaint's deadline (``complaint.waiting``, ``complaint.resumed``) is
   stored and nothing more, since no record depends on it;
2. fold the ledger, the value history and the current value record on from the state stored
   just before the new input's place in event-time order (``records_checkpoint``,
   ``domain/records_fold.py``): the latest state for an event newer than the others, an earlier
   checkpoint for one that arrives late, which then takes its place and everything after it is
   recomputed. The result is the fold of *all* stored inputs (``full_fold``), at a cost that
   does not grow with the client's history;
3. save what changed (ledger and history rows from the first difference on, the checkpoints
   after the starting state, the current figures on the client row);
4. in the same transaction, record ``client.satisfaction.changed`` when S as shown changed and
   ``client.value.changed`` when tier, health score or band changed, naming the cause.

The fold starts from the beginning (and rewrites every checkpoint) when the caller knows no
single new input (``since`` None), when the client's records were folded under other rules,
and when they were last folded without checkpoints (``checkpoints_at`` ≠ ``records_at``: a
database from before checkpoints, or a writer that did not keep them).

Several events at once (:func:`apply_events`, the consumer's batches) go through the same
steps for all their clients together — locked in client id order, read and written with one
statement per table — and each event still records the change events it would alone. On
PostgreSQL the new ledger, history and checkpoint rows and the change events are one statement.
"""
from __future__ import annotations

import json
import logging
import re
from collections import namedtuple
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any, Sequence

from sqlalchemy import (DateTime, Integer, String, bindparam, cast, delete, func, insert,
                        literal_column, null, or_, select, text, true, union_all, update)
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from services.registry.adapters.orm import (AnnualValueChangeRecord, ClientEventRecord,
                                            ClientRecord, RecordsCheckpointRecord,
                                            SatisfactionEntryRecord, ValueHistoryRecord, platform)
from services.registry.domain.events import (SURVEY_RESPONSE_SUBMITTED, SatisfactionEvent,
                                             read_comment)
from services.registry.domain.money import MONEY_PLACES, Money, money_output
from services.registry.domain.open_complaints import OpenComplaints
from services.registry.domain.records_fold import (CHECKPOINT_EVERY, START, Fold, FoldState,
                                                   Records, fold_from, full_fold)
from services.registry.domain.rounding import round_half_up
from services.registry.domain.satisfaction import LedgerEntry
from services.registry.domain.value import ValueRecord
from services.registry.domain.value_history import AnnualValueChange
from services.registry.rules import RegistryRules
from shared.bus.envelope import Event
from shared.bus.outbox import (EVENTS_RESULT, events_ctes, events_parameters, events_recorded,
                               record_events)
from shared.clock import as_utc
from shared.db import UTCDateTime
from shared.driver_db import rows_in_session
from shared.errors import NotFound, ValidationFailed

SERVICE = "registry"
log = logging.getLogger("clientloop.registry.records")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class UnknownClientEvent(NotFound):
    """An event names a client the registry does not hold. The consumer retries it with
    backoff, then dead-letters it (``clientloop dlq list registry``)."""


# -- reading what is stored -------------------------------------------------------------------

def lock_client(session: Session, client_id: str) -> ClientRecord | None:
    return session.execute(
        select(ClientRecord).where(ClientRecord.id == client_id).with_for_update()
        .execution_options(populate_existing=True)).scalar_one_or_none()


#: What the folds read of a stored event (``_event_of``).
_EVENT_FIELDS = ("event_id", "event_type", "occurred_at", "score", "severity",
                 "previous_severity", "within_sla", "ref", "complaint_id", "resolve_by")
_EVENT_COLUMNS = tuple(getattr(ClientEventRecord, name) for name in _EVENT_FIELDS)


def stored_events(session: Session, client_id: str) -> list[SatisfactionEvent]:
    rows = session.execute(select(*_EVENT_COLUMNS).where(ClientEventRecord.client_id == client_id)).all()
    return [_event_of(row) for row in rows]


def _event_of(row) -> SatisfactionEvent:
    return SatisfactionEvent(
        event_id=row.event_id, event_type=row.event_type, occurred_at=as_utc(row.occurred_at),
        score=None if row.score is None else Decimal(row.score), severity=row.severity,
        previous_severity=row.previous_severity, within_sla=row.within_sla, ref=row.ref,
        complaint_id=row.complaint_id, resolve_by=as_utc(row.resolve_by))


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
    """The records from every input at once (the definition :func:`refresh` keeps to)."""
    return full_fold(annual_value, events, changes, now, rules.satisfaction, rules.value)


Key = tuple[datetime, str]
#: How many of a client's latest checkpoints one query looks through for the state to start from.
_LATEST_CHECKPOINTS = 4


@dataclass(frozen=True)
class _Step:
    """One input stored since the records were last folded: its place in event-time order
    (None: unknown, fold from the start), the cause to announce, the event id it brought."""

    since: Key | None
    cause: dict[str, str] | None
    event_id: str | None = None


@dataclass
class _Work:
    """One client's part of a fold: what was stored for it, in order, and what the fold read."""

    client: ClientRecord
    steps: list[_Step]
    previous: "ShownState"
    announce: bool = True
    start: FoldState = START
    events: list[SatisfactionEvent] = field(default_factory=list)
    changes: list[AnnualValueChange] = field(default_factory=list)
    stored_ledger: list[tuple] = field(default_factory=list)
    stored_history: list[tuple] = field(default_factory=list)
    fold: Fold | None = None

    @property
    def since(self) -> Key | None:
        places = [step.since for step in self.steps]
        return None if any(place is None for place in places) else min(places)


def _refold(session: Session, works: list[_Work], *, now: datetime,
            rules: RegistryRules) -> None:
    """Fold the clients' records on from their checkpoints, save them and record the change
    events, with a handful of statements for all the clients together. ``works`` in client id
    order; each client's steps in the order their inputs were stored, announced one by one as
    if each had been folded alone."""
    _resume_from(session, works, now, rules)
    _load(session, works)
    announcements: list[tuple[str, str, dict[str, Any]]] = []
    for work in works:
        client = work.client
        previous = work.previous
        for number, step in enumerate(work.steps):
            later = {later.event_id for later in work.steps[number + 1:] if later.event_id}
            events = [event for event in work.events if event.event_id not in later] \
                if later else work.events
            fold = fold_from(work.start, events, work.changes, now=now,
                             annual_value=annual_value_of(client),
                             satisfaction_rules=rules.satisfaction, value_rules=rules.value,
                             checkpoint_every=CHECKPOINT_EVERY, mark=step.since)
            shown_now = ShownState(shown(fold.satisfaction, rules.satisfaction.places),
                                   fold.value.tier, fold.value.health_score,
                                   fold.value.health_band)
            if work.announce:
                announcements.extend(_announcements(client, previous, shown_now, fold,
                                                    step.cause, rules))
            previous = shown_now
            work.fold = fold
    _save(session, works, now, rules, announcements)


def _resume_from(session: Session, works: list[_Work], now: datetime,
                 rules: RegistryRules) -> None:
    """Set each work's ``start``: the latest checkpoint before its earliest new input, dated at
    or before ``now``; :data:`START` when none will do (see the module docstring)."""
    wanted = {}
    for work in works:
        client = work.client
        records_at = as_utc(client.records_at)
        if work.since is not None and client.records_rules == rules.fingerprint \
                and records_at is not None and as_utc(client.checkpoints_at) == records_at:
            wanted[client.id] = work
    if not wanted:
        return
    table = RecordsCheckpointRecord.__table__
    found: set[str] = set()
    # Event ids are compared here, in Python, as the fold orders them (not by SQL collation).
    ids = sorted(wanted)
    rows = _run(session, *_batch(session, "checkpoints", [(client_id, None) for client_id in ids],
                                 now=now))
    for row in sorted(rows, key=lambda row: (row.client_id, -row.points)):
        work = wanted[row.client_id]
        if row.client_id not in found and (as_utc(row.at), row.event_id) < work.since:
            work.start = _state_of(row)
            found.add(row.client_id)
    for client_id in sorted(set(wanted) - found):  # an event later than the latest states
        since = wanted[client_id].since
        row = session.execute(select(table).where(
            table.c.client_id == client_id, table.c.at < min(now, since[0]))
            .order_by(table.c.points.desc()).limit(1)).first()
        if row is not None:
            wanted[client_id].start = _state_of(row)


#: "From the start" as a lower bound on a time.
_EARLIEST = datetime(1, 1, 2, tzinfo=timezone.utc)


def _each(count: int, condition):
    """``condition(client, bound, other)`` for ``count`` clients, over bound parameters
    ``c0``, ``b0``, ``k0``, ``c1``…: one statement shape per count, built and compiled once."""
    return or_(*(condition(bindparam(f"c{number}"), bindparam(f"b{number}"),
                           bindparam(f"k{number}")) for number in range(count)))


#: The client id that fills a batch's unused places: no client has it.
_NO_CLIENT = ""


def _batch(session: Session, kind: str, pairs, **fixed) -> tuple[Any, dict[str, Any]]:
    """The statement ``kind`` for ``(client id, bound[, other])`` tuples, and its parameters.

    On PostgreSQL one statement of each kind serves any number of clients: the tuples go as
    arrays, joined as rows (``unnest``, :func:`_pg_statement`). Elsewhere the statement holds a
    condition per client (:func:`_statement`) and comes in sizes of powers of two (a batch of 5
    clients uses the one for 8, its last places naming no client), so batches of any size up
    to 50 share a few shapes, each built and compiled once."""
    pairs = list(pairs)
    params: dict[str, Any] = dict(fixed)
    if session.get_bind().dialect.name == "postgresql":
        params["clients"] = [pair[0] for pair in pairs]
        if kind != "checkpoints":
            params["bounds"] = [pair[1] for pair in pairs]
        if len(pairs[0]) > 2:
            params["kept"] = [pair[2] for pair in pairs]
        return _pg_statement(kind), params
    size = 1 << max(0, len(pairs) - 1).bit_length()
    pairs += [(_NO_CLIENT, *pairs[0][1:])] * (size - len(pairs))
    for number, pair in enumerate(pairs):
        params[f"c{number}"], params[f"b{number}"] = pair[0], pair[1]
        if len(pair) > 2:
            params[f"k{number}"] = pair[2]
    return _statement(kind, size), params


def _run(session: Session, statement, params: dict[str, Any]):
    """A statement of :func:`_batch`: on PostgreSQL straight to the driver in the session's
    transaction (``shared.driver_db.rows_in_session``, its rows a list), elsewhere through the
    session."""
    if session.get_bind().dialect.name == "postgresql":
        return rows_in_session(session, statement, params)
    return session.execute(statement, params)


def _targets(bound_type=None, kept: bool = False, bounds: str = "bounds"):
    """PostgreSQL: the batch's clients as rows ``w(client_id, bound, kept)`` from the arrays
    ``:clients``, ``:bounds`` (or the parameter ``bounds`` names) and ``:kept``."""
    arrays, names = [cast(bindparam("clients"), pg.ARRAY(String))], ["client_id"]
    if bound_type is not None:
        arrays.append(cast(bindparam(bounds), pg.ARRAY(bound_type)))
        names.append("bound")
    if kept:
        arrays.append(cast(bindparam("kept"), pg.ARRAY(Integer)))
        names.append("kept")
    return func.unnest(*arrays).table_valued(*names).render_derived(name="w")


#: The tables the batch statements read and write, as Core tables: the statements select plain
#: columns and run without the ORM's compile and loading steps (they never load ORM objects).
_EVENTS = ClientEventRecord.__table__
_CHANGES = AnnualValueChangeRecord.__table__
_LEDGER = SatisfactionEntryRecord.__table__
_HISTORY = ValueHistoryRecord.__table__
_CHECKPOINTS = RecordsCheckpointRecord.__table__


def _read_columns(kind: str) -> list:
    """The columns each read selects (the client id first)."""
    if kind == "events":
        return [_EVENTS.c.client_id, *(_EVENTS.c[name] for name in _EVENT_FIELDS)]
    if kind == "changes":
        return [_CHANGES.c[name] for name in ("client_id", "event_id", "event_type", "at", "amount",
                                              "currency")]
    if kind == "ledger":
        return [_LEDGER.c[name] for name in ("client_id", "event_id", "event_type", "occurred_at",
                                             "delta", "value", "reason")]
    return [_HISTORY.c[name] for name in ("client_id", "at", "cause_event_id", "cause_event_type",
                                          "tier", "health_score", "health_band",
                                          "value_at_risk")]


@lru_cache(maxsize=None)
def _pg_statement(kind: str):
    """:func:`_statement`'s statements for PostgreSQL, one for any number of clients: short,
    with three parameters at most, so besides SQLAlchemy's compiled cache, the driver's cache of
    parsed queries keeps them too (it skips queries of over 50 parameters or 4 kB, which the
    per-client conditions of a batch of 20 clients already were)."""
    if kind == "checkpoints":
        table = _CHECKPOINTS
        w = _targets()
        latest = (select(*table.c).where(table.c.client_id == w.c.client_id,
                                         table.c.at <= bindparam("now", type_=table.c.at.type))
                  .order_by(table.c.points.desc()).limit(_LATEST_CHECKPOINTS).lateral("latest"))
        return select(*latest.c).select_from(w.join(latest, true()))
    # The reads of events, changes, ledger and history are one statement: _pg_reads_statement.
    if kind in ("delete ledger", "delete history"):
        table, w = (_LEDGER if kind == "delete ledger" else _HISTORY), _targets(Integer)
        return delete(table).where(table.c.client_id == w.c.client_id,
                                   table.c.position >= w.c.bound)
    if kind == "delete checkpoints":
        table, w = _CHECKPOINTS, _targets(Integer, kept=True)
        return delete(table).where(table.c.client_id == w.c.client_id, (table.c.points > w.c.bound) | (
            (table.c.points % CHECKPOINT_EVERY != 0) & (table.c.points != w.c.kept)))
    raise ValueError(kind)


@lru_cache(maxsize=None)
def _statement(kind: str, count: int):
    """The statements that read and write several clients' records at once (see :func:`_each`
    for their parameters)."""
    if kind == "checkpoints":  # each client's latest few states dated at or before :now
        table = _CHECKPOINTS
        now = bindparam("now", type_=table.c.at.type)
        latest = [select(*table.c).where(table.c.client_id == bindparam(f"c{number}"),
                                         table.c.at <= now)
                  .order_by(table.c.points.desc()).limit(_LATEST_CHECKPOINTS).subquery()
                  for number in range(count)]
        return union_all(*(select(*each.c) for each in latest))
    if kind == "events":
        return select(*_read_columns(kind)).where(_each(
            count, lambda client, bound, _k: (_EVENTS.c.client_id == client)
            & (_EVENTS.c.occurred_at >= bound)))
    if kind == "changes":
        return select(*_read_columns(kind)).where(_each(
            count, lambda client, bound, _k: (_CHANGES.c.client_id == client)
            & (_CHANGES.c.at >= bound)))
    if kind in ("ledger", "history"):
        table = _LEDGER if kind == "ledger" else _HISTORY
        return select(*_read_columns(kind)).where(_each(
            count, lambda client, bound, _k: (table.c.client_id == client)
            & (table.c.position >= bound))).order_by(table.c.client_id, table.c.position)
    # The deletes are Core statements: they leave the session's identity map alone. A
    # transaction that folds never holds ledger, history or checkpoint rows as ORM objects
    # (they are read as plain rows here; only the pages read them as objects).
    if kind in ("delete ledger", "delete history"):
        table = _LEDGER if kind == "delete ledger" else _HISTORY
        return delete(table).where(_each(count, lambda client, bound, _k: (
            table.c.client_id == client) & (table.c.position >= bound)))
    if kind == "delete checkpoints":  # after the start, and the other non-periodic states
        table = _CHECKPOINTS
        return delete(table).where(_each(count, lambda client, bound, kept: (
            table.c.client_id == client) & ((table.c.points > bound) | (
                (table.c.points % CHECKPOINT_EVERY != 0) & (table.c.points != kept)))))
    raise ValueError(kind)


#: The four reads of what a fold needs from each start on, in the order they are read.
_READS = ("events", "changes", "ledger", "history")
#: The bound each read takes from a work's start (the events' and changes' time, the ledger's
#: and history's position), and the parameter that carries it on PostgreSQL.
_BOUNDS = {"events": "at_bounds", "changes": "at_bounds", "ledger": "ledger_bounds",
           "history": "history_bounds"}
#: A read's rows, by the names of :func:`_read_columns` (as the other dialects' rows have them).
_ROW_TYPES = {kind: namedtuple(f"{kind}_row", [column.name for column in _read_columns(kind)])
              for kind in _READS}


def _load(session: Session, works: list[_Work]) -> None:
    """What each work's fold needs from its start on: the events and annual value changes
    from the start's time on (the fold skips the ones at or before the start's own place), and
    the stored ledger and history rows from the start's positions on, as the saving compares
    them. On PostgreSQL one statement (:func:`_pg_reads_statement`), elsewhere one each."""
    by_client = {work.client.id: work for work in works}
    bounds = {
        "at_bounds": [work.start.at or _EARLIEST for work in works],
        "ledger_bounds": [work.start.ledger_size for work in works],
        "history_bounds": [work.start.history_size for work in works]}
    if session.get_bind().dialect.name == "postgresql":
        rows: dict[str, list] = {kind: [] for kind in _READS}
        spans = _pg_read_spans()
        for row in rows_in_session(session, _pg_reads_statement(),
                                   {"clients": [work.client.id for work in works], **bounds}):
            kind = row[0]
            rows[kind].append(_ROW_TYPES[kind]._make((row[1], *row[spans[kind]])))
    else:
        rows = {kind: list(session.execute(*_batch(session, kind, zip(
            (work.client.id for work in works), bounds[_BOUNDS[kind]])))) for kind in _READS}
    for row in rows["events"]:
        by_client[row.client_id].events.append(_event_of(row))
    for row in rows["changes"]:
        by_client[row.client_id].changes.append(AnnualValueChange(
            event_id=row.event_id, event_type=row.event_type, at=as_utc(row.at),
            annual_value=None if row.amount is None else Money(Decimal(row.amount), row.currency)))
    for work in works:
        work.changes.sort(key=lambda change: (change.at, change.event_id))
    for row in rows["ledger"]:
        by_client[row.client_id].stored_ledger.append((
            row.event_id, row.event_type, as_utc(row.occurred_at),
            None if row.delta is None else Decimal(row.delta), Decimal(row.value), row.reason))
    for row in rows["history"]:
        by_client[row.client_id].stored_history.append((
            as_utc(row.at), row.cause_event_id, row.cause_event_type, row.tier,
            Decimal(row.health_score), row.health_band, Decimal(row.value_at_risk)))


@lru_cache(maxsize=1)
def _pg_reads_statement():
    """PostgreSQL: :func:`_statement`'s four reads (events and annual value changes from each
    client's bound time on, ledger and history rows from its bound positions on) as one
    ``UNION ALL``, in one round trip for any number of clients (their bounds as arrays joined
    as rows, as in :func:`_pg_statement`). Each row is ``(kind, client_id, position,`` then each
    read's own columns — those of its kind set, the others ``NULL``, typed in the first read as
    PostgreSQL resolves a union's column types from left to right — ``)``, ordered by kind,
    client and position (the ledger's and history's rows in position order, as their own reads
    give them). Short enough (under 4 kB) for the driver to keep its parsed form."""
    tables = {"events": _EVENTS, "changes": _CHANGES, "ledger": _LEDGER, "history": _HISTORY}
    bound_types = {"events": DateTime(timezone=True), "changes": DateTime(timezone=True),
                   "ledger": Integer(), "history": Integer()}
    bound_columns = {"events": _EVENTS.c.occurred_at, "changes": _CHANGES.c.at,
                     "ledger": _LEDGER.c.position, "history": _HISTORY.c.position}
    selects = []
    for kind in _READS:
        table, w = tables[kind], _targets(bound_types[kind], bounds=_BOUNDS[kind])
        first = not selects   # types each column (left to right, two NULLs make text)
        position = table.c.position if kind in ("ledger", "history") else \
            cast(null(), Integer) if first else null()
        columns = [literal_column(f"'{kind}'").label("kind"), table.c.client_id.label("client_id"),
                   position.label("position")]
        for other in _READS:
            for column in _read_columns(other)[1:]:
                value = column if other == kind else cast(null(), column.type) if first else null()
                columns.append(value.label(f"c{len(columns)}"))
        selects.append(select(*columns).join_from(
            table, w, (table.c.client_id == w.c.client_id) & (bound_columns[kind] >= w.c.bound)))
    return union_all(*selects).order_by(text("kind"), text("client_id"), text("position"))


@lru_cache(maxsize=1)
def _pg_read_spans() -> dict[str, slice]:
    """Where each read's own columns lie in a row of :func:`_pg_reads_statement` (after its
    kind, client id and position)."""
    spans, start = {}, 3
    for kind in _READS:
        width = len(_read_columns(kind)) - 1
        spans[kind] = slice(start, start + width)
        start += width
    return spans


def _state_of(row) -> FoldState:
    return FoldState(
        at=as_utc(row.at), event_id=row.event_id, points=row.points,
        ledger_size=row.ledger_size, history_size=row.history_size,
        satisfaction=None if row.satisfaction is None else Decimal(row.satisfaction),
        annual_value=(None if row.annual_amount is None
                      else Money(Decimal(row.annual_amount), row.annual_currency)),
        open_complaints=OpenComplaints(row.open_low, row.open_medium, row.open_high,
                                       row.open_critical),
        opened=tuple(row.opened),
        last_entry=(None if row.last_tier is None
                    else (row.last_tier, Decimal(row.last_health_score), row.last_health_band)))


def _checkpoint_row(client_id: str, state: FoldState) -> dict[str, Any]:
    counts, last = state.open_complaints, state.last_entry
    return {
        "client_id": client_id, "points": state.points, "at": state.at,
        "event_id": state.event_id, "ledger_size": state.ledger_size,
        "history_size": state.history_size,
        "satisfaction": None if state.satisfaction is None else str(state.satisfaction),
        "annual_amount": None if state.annual_value is None else state.annual_value.amount,
        "annual_currency": None if state.annual_value is None else state.annual_value.currency,
        "open_low": counts.low, "open_medium": counts.medium, "open_high": counts.high,
        "open_critical": counts.critical,
        "opened": list(state.opened),
        "last_tier": None if last is None else last[0],
        "last_health_score": None if last is None else last[1],
        "last_health_band": None if last is None else last[2],
    }


#: The checkpoint table's columns, which :func:`_checkpoint_row` gives.
_CHECKPOINT_COLUMNS = tuple(_CHECKPOINTS.c.keys())


# -- use cases ---------------------------------------------------------------------------------

def apply_event(session: Session, event: Event, *, now: datetime, rules: RegistryRules) -> bool:
    """Apply one feedback or complaint event from the bus. False if it was already applied.

    A survey response's comment is kept for the client's page — unless the client was erased
    meanwhile (an event already on its way when the erasure happened).

    Raises :class:`ValidationFailed` for data the folds cannot use and
    :class:`UnknownClientEvent` for a client the registry does not hold; the consumer retries
    both and then dead-letters the event.
    """
    return apply_events(session, [event], now=now, rules=rules)[0]


def apply_events(session: Session, events: Sequence[Event], *, now: datetime,
                 rules: RegistryRules) -> list[bool]:
    """Apply several bus events in the caller's transaction, with what applying them one by
    one in that order gives: the same records, the same change events (each naming its own
    cause). For each, False if it was already applied. Raises as :func:`apply_event` does for
    the first event that cannot be applied; then nothing may be committed."""
    parsed = []
    for event in events:
        applied = SatisfactionEvent.from_bus(event.id, event.type, event.time, event.data)
        client_id = event.data.get("client_id") or event.subject
        if not isinstance(client_id, str) or not _UUID.match(client_id):
            raise ValidationFailed({"data.client_id": ["Must be a client id (a UUID)."]},
                                   detail=f"Event {event.id} names no client.")
        parsed.append((event, applied, client_id.lower()))
    if not parsed:
        return []
    ids = sorted({client_id for _event, _applied, client_id in parsed})
    clients = {client.id: client
               for client in session.execute(_LOCK_CLIENTS, {"ids": ids}).scalars()}
    for event, _applied, client_id in parsed:
        if client_id not in clients:
            raise UnknownClientEvent(f"Event {event.id} ({event.type}) names client {client_id}, "
                                     "which the registry does not hold.")
    # Each event stored once for its client: what the client already holds (or an earlier
    # copy in this batch holds) is left out by the insert itself, which says what it stored.
    rows, seen = [], set()
    for event, applied, client_id in parsed:
        if (client_id, applied.event_id) in seen:
            continue
        seen.add((client_id, applied.event_id))
        rows.append({
            "client_id": client_id, "event_id": applied.event_id,
            "event_type": applied.event_type, "occurred_at": applied.occurred_at,
            "score": None if applied.score is None else str(applied.score),
            "severity": applied.severity, "previous_severity": applied.previous_severity,
            "within_sla": applied.within_sla, "ref": applied.ref,
            "complaint_id": applied.complaint_id, "resolve_by": applied.resolve_by,
            "comment": _comment(event, applied, clients[client_id]), "received_at": now})
    if session.get_bind().dialect.name == "postgresql":
        stored = rows_in_session(session, _store_events_pg(), {"rows": json.dumps(
            rows, default=_json_value, ensure_ascii=False, separators=(",", ":"))})
    else:
        stored = session.execute(_store_events(session), rows)
    fresh = {(row.client_id, row.event_id) for row in stored}
    results, works = [], {}
    for event, applied, client_id in parsed:
        if (client_id, applied.event_id) not in fresh:
            results.append(False)
            continue
        fresh.discard((client_id, applied.event_id))
        results.append(True)
        if applied.moves_records:
            if client_id not in works:
                works[client_id] = _Work(clients[client_id], [], shown_state(clients[client_id]))
            works[client_id].steps.append(_Step(applied.order_key, applied.cause,
                                                applied.event_id))
    if works:
        _refold(session, [works[client_id] for client_id in sorted(works)], now=now, rules=rules)
    return results


_LOCK_CLIENTS = (select(ClientRecord).where(ClientRecord.id.in_(bindparam("ids", expanding=True)))
                 .order_by(ClientRecord.id).with_for_update()
                 .execution_options(populate_existing=True))


@lru_cache(maxsize=None)
def _store_events_statement(dialect: str):
    table = ClientEventRecord.__table__
    factory = pg_insert if dialect == "postgresql" else sqlite_insert
    return factory(table).on_conflict_do_nothing(
        index_elements=[table.c.client_id, table.c.event_id]).returning(
            table.c.client_id, table.c.event_id)


def _store_events(session: Session):
    """``INSERT … ON CONFLICT DO NOTHING RETURNING`` the client and event ids it stored."""
    return _store_events_statement(session.get_bind().dialect.name)


@lru_cache(maxsize=1)
def _store_events_pg():
    """PostgreSQL: :func:`_store_events` for any number of events in one statement of one
    parameter, the rows as a JSON array read back into the table's row type (as
    :func:`_write_pg` writes its rows)."""
    table = ClientEventRecord.__table__
    names = ", ".join(column.name for column in table.c if column.name != "id")
    return text(f"""INSERT INTO {table.name} ({names})
SELECT {names} FROM json_populate_recordset(NULL::{table.name}, CAST(:rows AS json))
ON CONFLICT (client_id, event_id) DO NOTHING
RETURNING client_id, event_id""").columns(table.c.client_id, table.c.event_id)


def _comment(event: Event, applied: SatisfactionEvent, client: ClientRecord) -> str | None:
    if client.status == "erased" or applied.event_type != SURVEY_RESPONSE_SUBMITTED:
        return None
    return read_comment(event.data)


def record_annual_value(session: Session, client: ClientRecord, *, event_id: str,
                        event_type: str, at: datetime) -> None:
    """Staff set the annual value (registration or edit); ``event_id`` is the registry event
    that says so, and becomes the cause of the value history entry it produces."""
    session.execute(insert(AnnualValueChangeRecord).values(
        client_id=client.id, event_id=event_id, event_type=event_type, at=at,
        amount=client.annual_amount, currency=client.annual_currency))


def refresh(session: Session, client: ClientRecord, *, now: datetime, rules: RegistryRules,
            cause: dict[str, str] | None, announce: bool = True,
            previous: "ShownState | None" = None, since: Key | None = None) -> Fold:
    """Fold the client's records as of ``now``, save them, and (with ``announce``) record the
    change events against ``previous`` (default: the figures on the client row). The client
    row must be locked (or new) in this transaction.

    ``since`` is the place in event-time order, ``(time, event id)``, of the one input stored
    since the records were last folded (for the periodic job, which stores none: ``(now, "")``);
    the fold goes on from the checkpoint before it. None folds everything from the start: what
    a caller that stored inputs some other way must ask for."""
    work = _Work(client, [_Step(since, cause)], previous or shown_state(client), announce)
    _refold(session, [work], now=now, rules=rules)
    return work.fold


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
                    refresh(session, client, now=now, rules=rules, cause=None, since=(now, ""))
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


def _rewrite(stored: list[tuple], new: list[tuple], first: int):
    """Where the stored rows from position ``first`` on stop matching ``new``: None when they
    all match, else (the position to rewrite from, whether stored rows from there must go,
    the new rows from there)."""
    difference = _first_difference(stored, new)
    if difference is None:
        return None
    return first + difference, difference < len(stored), new[difference:]


_LEDGER_COLUMNS = ("event_id", "event_type", "occurred_at", "delta", "value", "reason")
_HISTORY_COLUMNS = ("at", "cause_event_id", "cause_event_type", "tier", "health_score",
                    "health_band", "value_at_risk")


@dataclass
class _Rows:
    """What saving one table of the folds takes: the ``(client id, bound[, kept])`` of the
    rows to delete first (:func:`_batch`'s delete of ``delete_kind``), then the rows to insert."""

    table: Any
    delete_kind: str
    deletes: list[tuple] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


def _save(session: Session, works: list[_Work], now: datetime, rules: RegistryRules,
          announcements: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Save the folds: each table's deletes, then its rows, the clients' current figures and
    the change events. On PostgreSQL the rows of the three tables, the clients' figures and the
    events go in one statement (:func:`_write_pg`); elsewhere one statement each."""
    tables = [_ledger_rows(works, rules), _history_rows(works), _checkpoint_rows(works)]
    for table in tables:
        if table.deletes:
            _run(session, *_batch(session, table.delete_kind, table.deletes))
    current = _current_rows(works, now, rules)
    if session.get_bind().dialect.name == "postgresql" and (
            announcements or any(table.rows for table in tables)):
        _write_pg(session, tables, current, announcements, now)
        return
    for table in tables:
        if table.rows:
            session.execute(insert(table.table), table.rows)
    record_events(session, platform, service=SERVICE, events=announcements, time=now)
    if current:
        session.execute(_update_current(), current)


def _write_pg(session: Session, tables: list[_Rows], current: list[dict[str, Any]],
              announcements, now: datetime) -> None:
    """PostgreSQL: the ledger, history and checkpoint rows and the clients' current figures
    (each as one JSON array, read back into its row type) and the change events, in one
    statement (which sends the relay's ``NOTIFY`` only when there are events)."""
    envelopes, params = events_parameters(service=SERVICE, events=announcements, time=now)
    for table in tables:
        params[table.table.name] = json.dumps(table.rows, default=_json_value,
                                              ensure_ascii=False, separators=(",", ":"))
    params["client"] = json.dumps([{"id": row["client"], **{name: value for name, value in
                                                            row.items() if name != "client"}}
                                   for row in current], default=_json_value,
                                  ensure_ascii=False, separators=(",", ":"))
    events_recorded(session, envelopes, rows_in_session(session, _write_pg_statement(), params))


@lru_cache(maxsize=1)
def _write_pg_statement():
    inserts = []
    for table, columns in ((_LEDGER, ("client_id", "position", *_LEDGER_COLUMNS)),
                           (_HISTORY, ("client_id", "position", *_HISTORY_COLUMNS)),
                           (_CHECKPOINTS, _CHECKPOINT_COLUMNS)):
        names = ", ".join(columns)
        inserts.append(f"""{table.name}_rows AS (
    INSERT INTO {table.name} ({names})
    SELECT {names} FROM json_populate_recordset(NULL::{table.name}, CAST(:{table.name} AS json))
)""")
    client = ClientRecord.__table__.name
    figures = ", ".join(f"{name} = figures.{name}" for name in _CURRENT_FIGURES)
    inserts.append(f"""{client}_rows AS (
    UPDATE {client} SET {figures}
      FROM json_populate_recordset(NULL::{client}, CAST(:{client} AS json)) AS figures
     WHERE {client}.id = figures.id
)""")
    return text(f"WITH {', '.join(inserts)}, {events_ctes(platform)}{EVENTS_RESULT}\n").bindparams(
        bindparam("created_at", type_=UTCDateTime()))


def _json_value(value: Any) -> Any:
    """Row values as JSON that PostgreSQL reads back as the columns' types."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a column value")


def _position_rows(works: list[_Work], *, table, columns: tuple[str, ...], delete_kind: str,
                   stored, new, first) -> _Rows:
    """Each client's rows of ``table`` (keyed by client and position) from the fold's starting
    position on, to read ``new(work)``: the rows from the first difference on are deleted and
    inserted again."""
    saving = _Rows(table, delete_kind)
    for work in works:
        change = _rewrite(stored(work), new(work), first(work))
        if change is None:
            continue
        start, replace, fresh = change
        if replace:
            saving.deletes.append((work.client.id, start))
        saving.rows.extend({"client_id": work.client.id, "position": position,
                            **dict(zip(columns, values))}
                           for position, values in enumerate(fresh, start))
    return saving


def _ledger_rows(works: list[_Work], rules: RegistryRules) -> _Rows:
    """Each stored ledger from its start's position on, to read the fold's entries."""
    places = rules.satisfaction.places
    return _position_rows(
        works, table=_LEDGER, columns=_LEDGER_COLUMNS, delete_kind="delete ledger",
        stored=lambda work: work.stored_ledger, first=lambda work: work.start.ledger_size,
        new=lambda work: [(entry.event_id, entry.event_type, entry.occurred_at,
                           shown(entry.delta, places), shown(entry.value, places), entry.reason)
                          for entry in work.fold.ledger])


def _history_rows(works: list[_Work]) -> _Rows:
    """Each stored value history from its start's position on, to read the fold's entries."""
    return _position_rows(
        works, table=_HISTORY, columns=_HISTORY_COLUMNS, delete_kind="delete history",
        stored=lambda work: work.stored_history, first=lambda work: work.start.history_size,
        new=lambda work: [(entry.at, (entry.cause or {}).get("event_id"),
                           (entry.cause or {}).get("event_type"), entry.tier,
                           entry.health_score, entry.health_band,
                           round_half_up(entry.value_at_risk, MONEY_PLACES))
                          for entry in work.fold.history])


def _checkpoint_rows(works: list[_Work]) -> _Rows:
    """The checkpoints after each fold's starting state replaced by the ones it produced, and
    the other states that were neither periodic nor the tail dropped: a client keeps its
    periodic checkpoints, its tail and the state after the input stored last."""
    saving = _Rows(_CHECKPOINTS, "delete checkpoints")
    for work in works:
        fold, start = work.fold, work.start
        saving.deletes.append((work.client.id, start.points,
                               start.points if fold.tail is start else -1))
        saving.rows.extend(_checkpoint_row(work.client.id, state) for state in fold.to_keep())
    return saving


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


#: The client's columns a fold sets (:func:`_current_rows`).
_CURRENT_FIGURES = ("satisfaction", "tier", "health_score", "health_band", "open_low",
                    "open_medium", "open_high", "open_critical", "complaints_90d",
                    "value_at_risk", "window_moves_at", "records_at", "checkpoints_at",
                    "records_rules")


def _current_rows(works: list[_Work], now: datetime,
                  rules: RegistryRules) -> list[dict[str, Any]]:
    """The clients' current figures from their folds, one row each (``client``: the id, then
    :data:`_CURRENT_FIGURES`), for one ``UPDATE`` of the batch (a Core statement, without the
    ORM's unit of work); the loaded clients take the same values as committed ones, so the
    session neither writes them again nor reads them back."""
    rows = []
    for work in works:
        value, fold = work.fold.value, work.fold
        figures = dict(zip(_CURRENT_FIGURES, (
            shown(fold.satisfaction, rules.satisfaction.places), value.tier,
            value.health_score, value.health_band, value.open_complaints.low,
            value.open_complaints.medium, value.open_complaints.high,
            value.open_complaints.critical, value.complaints_90d,
            round_half_up(value.value_at_risk, MONEY_PLACES), fold.window_moves_at, now, now,
            rules.fingerprint)))
        for name, figure in figures.items():
            set_committed_value(work.client, name, figure)
        rows.append({"client": work.client.id, **figures})
    return rows


@lru_cache(maxsize=1)
def _update_current():
    """``UPDATE client SET`` the record columns (named by the parameters) ``WHERE id =
    :client``."""
    table = ClientRecord.__table__
    return update(table).where(table.c.id == bindparam("client"))


def _announcements(client: ClientRecord, previous: ShownState, now_shown: ShownState,
                   records: Fold, cause: dict[str, str] | None,
                   rules: RegistryRules) -> list[tuple[str, str, dict[str, Any]]]:
    """The change events one fold calls for, as ``(event_type, subject, data)``."""
    found = []
    # Only events move S, so a change always has a cause. (The one exception, an installation
    # changing the satisfaction rules, re-folds S silently: the event's schema needs a cause.)
    if now_shown.satisfaction != previous.satisfaction and cause is not None:
        found.append(("client.satisfaction.changed", client.id, satisfaction_changed_data(
            client.id, previous.satisfaction, now_shown.satisfaction, records.ledger, cause)))
    value = records.value
    if (value.tier, value.health_score, value.health_band) != \
            (previous.tier, previous.health_score, previous.health_band):
        found.append(("client.value.changed", client.id,
                      value_changed_data(client, value, previous, cause, rules)))
    return found


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
