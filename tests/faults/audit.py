"""After the run: what each promise is measured against.

* The *tap*: a durable quorum queue of the test's own, bound to ``#`` on ``clientloop.events``
  before the load starts, holds every message the relays published (duplicates included).
* Each service database's ``outbox`` holds every event a committed change wrote.
* The registry's ``client_event``, ``satisfaction_entry`` and ``value_history_entry`` hold
  what it applied; a fresh registry database fed the tap's events once each, in event-time
  order, through the registry's own use cases, shows what it should hold.
"""
from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import pika
import psycopg

from shared.bus import topology

TAP_QUEUE = "faults.tap"
SERVICES = tuple(topology.SUBSCRIPTIONS)


# -- the tap ---------------------------------------------------------------------------------

def bind_tap(broker_url: str) -> None:
    """Declare the bus topology and the tap queue bound to every routing key."""
    with topology.connection_for(broker_url) as connection:
        topology.declare(connection)
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        channel = connection.channel()
        channel.queue_declare(TAP_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(TAP_QUEUE, topology.EXCHANGE_NAME, routing_key="#")
    finally:
        connection.close()


def drain_tap(broker_url: str) -> list[dict[str, Any]]:
    """Every envelope the tap received, in arrival order (duplicates kept)."""
    envelopes: list[dict[str, Any]] = []
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        channel = connection.channel()
        while True:
            method, _properties, body = channel.basic_get(TAP_QUEUE, auto_ack=True)
            if method is None:
                return envelopes
            envelopes.append(json.loads(body))
    finally:
        connection.close()


def queue_depths(broker_url: str, names: Iterable[str]) -> dict[str, int]:
    """Ready messages per queue (passive declare)."""
    depths = {}
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        for name in names:
            channel = connection.channel()
            depths[name] = channel.queue_declare(name, passive=True).method.message_count
            channel.close()
    finally:
        connection.close()
    return depths


# -- the databases ---------------------------------------------------------------------------

def outbox(database_url: str) -> tuple[dict[str, dict[str, Any]], int]:
    """The service's outbox: envelopes by event id, and how many rows are not sent yet."""
    with psycopg.connect(database_url) as connection:
        rows = connection.execute("SELECT event_id, body, sent_at IS NULL FROM outbox").fetchall()
    return {row[0]: json.loads(row[1]) for row in rows}, sum(1 for row in rows if row[2])


def inbox_ids(database_url: str) -> set[str]:
    with psycopg.connect(database_url) as connection:
        return {row[0] for row in connection.execute("SELECT event_id FROM inbox")}


def registry_doubles(database_url: str) -> dict[str, int]:
    """Events the registry holds more than once for a client: applied, in the satisfaction
    ledger, or as the cause of a value history entry."""
    queries = {
        "applied events (client_event)":
            "SELECT client_id, event_id FROM client_event GROUP BY 1, 2 HAVING count(*) > 1",
        "satisfaction ledger entries":
            "SELECT client_id, event_id FROM satisfaction_entry GROUP BY 1, 2 HAVING count(*) > 1",
        "value history entries":
            "SELECT client_id, cause_event_id FROM value_history_entry "
            "WHERE cause_event_id IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1",
    }
    with psycopg.connect(database_url) as connection:
        return {name: len(connection.execute(query).fetchall()) for name, query in queries.items()}


# -- waiting for the dust to settle ----------------------------------------------------------

def wait_for_quiescence(database_urls: dict[str, str], broker_url: str, *, timeout: float,
                        settle_s: float = 3.0) -> float:
    """Wait until no outbox has unsent rows, no service or retry queue holds a message, and
    nothing moved (inboxes, tap) for ``settle_s``; return the seconds waited."""
    started = time.monotonic()
    queues = [name for service in SERVICES
              for name in (topology.queue_name(service), topology.retry_queue_name(service))]
    last, since = None, time.monotonic()
    while True:
        snapshot = _snapshot(database_urls, broker_url, queues)
        busy = snapshot is None or snapshot[0] > 0 or any(snapshot[1].values())
        if busy or snapshot != last:
            last, since = snapshot, time.monotonic()
        elif time.monotonic() - since >= settle_s:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not quiet after {timeout:.0f} s: unsent outbox rows and "
                                 f"queue depths {snapshot}")
        time.sleep(0.5)


def _snapshot(database_urls, broker_url, queues):
    try:
        pending = sum(outbox(url)[1] for url in database_urls.values())
        depths = queue_depths(broker_url, [*queues, TAP_QUEUE])
        tap = depths.pop(TAP_QUEUE)
        inboxes = tuple(len(inbox_ids(url)) for url in database_urls.values())
    except (psycopg.Error, pika.exceptions.AMQPError, OSError):
        return None
    return pending, depths, tap, inboxes


# -- the promises ----------------------------------------------------------------------------

@dataclass
class BusAudit:
    """Outboxes against the tap: lost, duplicated, foreign, and sequence order."""

    written: int
    deliveries: int
    distinct: int
    duplicates: int
    lost: list[str]
    foreign: list[str]
    shared_sequences: int
    gaps: int
    out_of_order: int
    subjects: int
    lost_types: Counter = field(default_factory=Counter)
    disorder: list[str] = field(default_factory=list)


def audit_bus(outboxes: dict[str, dict[str, dict]], tap: list[dict], *,
              written_by_now: dict[str, dict[str, dict]] | None = None) -> BusAudit:
    """``outboxes`` read before the tap was drained, ``written_by_now`` after (default: the
    same): an event missing from the tap is lost only if written before, foreign only if not
    written by now."""
    written = _by_id(outboxes)
    now_written = _by_id(written_by_now) if written_by_now is not None else written
    seen: dict[str, dict] = {}
    for envelope in tap:
        seen.setdefault(envelope["id"], envelope)
    lost = sorted(set(written) - set(seen))
    shared, gaps, out_of_order, subjects = sequence_audit(list(seen.values()))
    disorder = disordered_streams(tap) if shared or gaps or out_of_order else []
    return BusAudit(
        written=len(written), deliveries=len(tap), distinct=len(seen),
        duplicates=len(tap) - len(seen), lost=lost, foreign=sorted(set(seen) - set(now_written)),
        shared_sequences=shared, gaps=gaps, out_of_order=out_of_order, subjects=subjects,
        lost_types=Counter(written[event_id]["type"] for event_id in lost), disorder=disorder)


def _by_id(outboxes: dict[str, dict[str, dict]]) -> dict[str, dict]:
    return {event_id: envelope for rows in outboxes.values() for event_id, envelope in rows.items()}


def sequence_audit(first_arrivals: list[dict]) -> tuple[int, int, int, int]:
    """Per (source, subject), over each event's first arrival: sequence numbers two events
    share, numbers missing between 1 and the highest, and events that arrived after one with
    a higher sequence. Also how many (source, subject) pairs there were."""
    streams: dict[tuple[str, str], list[int]] = defaultdict(list)
    for envelope in first_arrivals:
        streams[(envelope["source"], envelope["subject"])].append(int(envelope["sequence"]))
    shared = gaps = out_of_order = 0
    for arrivals in streams.values():
        shared += len(arrivals) - len(set(arrivals))
        gaps += max(arrivals) - len(set(arrivals))
        out_of_order += sum(1 for before, after in zip(arrivals, arrivals[1:]) if after <= before)
    return shared, gaps, out_of_order, len(streams)


def disordered_streams(tap: list[dict], limit: int = 3) -> list[str]:
    """For a failure message: the arrivals of the first few streams whose first arrivals are
    not in sequence order, as ``position:sequence:type`` (``*`` marks a repeat)."""
    streams: dict[tuple[str, str], list[tuple[int, dict, bool]]] = defaultdict(list)
    seen: set[str] = set()
    for position, envelope in enumerate(tap):
        streams[(envelope["source"], envelope["subject"])].append(
            (position, envelope, envelope["id"] in seen))
        seen.add(envelope["id"])
    shown = []
    for (source, subject), arrivals in streams.items():
        firsts = [int(e["sequence"]) for _, e, repeat in arrivals if not repeat]
        if firsts == sorted(set(firsts)) and len(firsts) == max(firsts):
            continue
        steps = " ".join(f"{position}:{int(e['sequence'])}:{e['type'].split('.', 1)[1][:-3]}"
                         f"{'*' if repeat else ''}" for position, e, repeat in arrivals)
        shown.append(f"{source} {subject}: {steps}")
        if len(shown) == limit:
            break
    return shown


@dataclass
class FoldAudit:
    clients: int
    events: int
    differing: dict[str, list[str]]


def audit_fold(tap: list[dict], production_ctx, fold_ctx,
               register: Callable[..., Any], apply: Callable[[Any, dict], Any]) -> FoldAudit:
    """Register the tap's clients in ``fold_ctx`` (at their registration times), apply the
    tap's satisfaction events once each in event-time order, and compare what both registries
    show, client by client."""
    from tests.registry.records_view import records_of

    unique: dict[str, dict] = {}
    for envelope in tap:
        unique.setdefault(envelope["id"], envelope)
    ordered = sorted(unique.values(), key=lambda e: (e["time"], e["id"]))
    registrations = [e for e in ordered if e["type"] == "clientloop.client.registered.v1"]
    for envelope in registrations:
        fold_ctx.clock.now = _parse_time(envelope["time"])
        client = envelope["data"]["client"]
        fields = {name: client[name] for name in ("kind", "category", "preferred_language",
                                                  "tags", "owner") if client.get(name) is not None}
        if client.get("annual_value"):
            fields["annual_value"] = client["annual_value"]
        register(fold_ctx, client["name"], client_id=client["id"], **fields)
    subscribed = {topology_type(name) for name in topology.SUBSCRIPTIONS["registry"]}
    events = [e for e in ordered if e["type"] in subscribed]
    fold_ctx.clock.now = datetime.now(timezone.utc)
    for envelope in events:
        apply(fold_ctx, envelope)
    expected, actual = records_of(fold_ctx), records_of(production_ctx)
    differing: dict[str, list[str]] = defaultdict(list)
    for part in ("clients", "ledgers", "histories"):
        for client_id in set(expected[part]) | set(actual[part]):
            if expected[part].get(client_id) != actual[part].get(client_id):
                differing[client_id].append(part)
    applied_expected, applied_actual = _by_client(expected["applied"]), _by_client(actual["applied"])
    for client_id in set(applied_expected) | set(applied_actual):
        if applied_expected.get(client_id) != applied_actual.get(client_id):
            differing[client_id].append("applied events")
    return FoldAudit(clients=len(registrations), events=len(events), differing=dict(differing))


def _by_client(pairs) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for client_id, event_id in pairs:
        grouped[client_id].append(event_id)
    return {client_id: sorted(ids) for client_id, ids in grouped.items()}


def topology_type(name: str) -> str:
    return f"clientloop.{name}.v1"


def _parse_time(value: str) -> datetime:
    from shared.clock import parse_timestamp
    return parse_timestamp(value)
