"""The consumer runner: applies each event once, retries failures, dead-letters the hopeless.

For every message on ``<service>.events`` it opens one database transaction, records the event
id in the ``inbox`` table and runs the handler; both commit together, so a redelivered event is
acknowledged and skipped. A failing handler is retried with backoff (``retry_delays_s``):

* on RabbitMQ the message is republished to ``<service>.events.retry`` with a per-message
  expiration; the broker dead-letters it back to ``<service>.events`` when it expires. After the
  last attempt the message is rejected and the queue dead-letters it to ``<service>.events.dlq``
  (at-least-once dead-lettering);
* on the embedded filesystem bus, which has no TTL or dead-lettering, the runner does the same
  itself: the message goes back on ``<service>.events`` with a not-before time, and after the
  last attempt it is put on ``<service>.events.dlq``.

Malformed messages (not a ClientLoop CloudEvent) go straight to the dead-letter queue.

A handler that can apply several events at once (an ``apply_many(session, events)`` attribute:
the registry's) gets them in batches: the runner takes the messages the broker has already
delivered (up to ``batch_size``, never waiting for more) and applies them in *one* transaction
with their inbox rows (:func:`apply_batch`), then acknowledges them all. Exactly once still
holds per event: an event already in the inbox is skipped, nothing is acknowledged before the
commit, and a crash before it leaves every message of the batch to be redelivered. If the batch
fails on an event (bad data, a bug), it is rolled back and its events are applied one by one as
above, so only the failing one is retried or dead-lettered.

Those retries are for failures of the event itself (bad data, a bug). A handler that fails
because the database or the broker is unreachable (``shared.outages``) is not the event's fault:
the runner keeps the message unacknowledged and runs the handler again in place, waiting 0.5 s
doubling up to 30 s, until the dependency is back. That never counts as an attempt and never
dead-letters. While it waits it keeps the AMQP connection's heartbeats going; asked to stop, it
leaves the message unacknowledged (the broker redelivers it) or, on the embedded bus, puts it
back on the queue.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import groupby
from typing import Any, Callable, Mapping, Sequence

from kombu import Producer
from kombu.mixins import ConsumerMixin
from sqlalchemy import delete, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.bus import topology
from shared.bus.envelope import SERIALIZER, Event, MalformedEvent
from shared.clock import utcnow
from shared.db import Database, PlatformTables
from shared.driver_db import rows_in_session
from shared.outages import dependency_unavailable

log = logging.getLogger("clientloop.consumer")

ATTEMPT_HEADER = "x-clientloop-attempt"
NOT_BEFORE_HEADER = "x-clientloop-not-before"
ERROR_HEADER = "x-clientloop-error"
#: Content types the runner decodes. Raw bytes (``application/octet-stream``, what a publisher
#: that sets no content type sends) are parsed as JSON by the runner itself.
ACCEPT = [SERIALIZER, "json", "application/octet-stream"]

Handler = Callable[[Session, Event], None]
#: Waits between in-place runs of a handler while a dependency is unreachable: first, cap.
OUTAGE_BACKOFF_S = (0.5, 30.0)
#: Longest single sleep while holding an event: a heartbeat goes out at least this often (well
#: within any usual AMQP heartbeat interval) and stopping is never late by more.
_PAUSE_SLICE_S = 1.0


class _Stopping(Exception):
    """Asked to stop while holding an event through an outage."""


def apply_once(database: Database, tables: PlatformTables, handler: Handler, event: Event,
               *, now: datetime) -> bool:
    """Run ``handler`` for ``event`` unless its id is already in the inbox. True if applied."""
    try:
        with database.transaction() as session:
            row = {"event_id": event.id, "event_type": event.type, "received_at": now}
            if session.get_bind().dialect.name == "postgresql":
                rows_in_session(session, _inbox_row(tables.inbox), row)
            else:
                session.execute(_inbox_row(tables.inbox), row)
            handler(session, event)
    except IntegrityError as exc:
        if _is_inbox_duplicate(database, tables, event.id):
            return False
        raise exc
    return True


def apply_batch(database: Database, tables: PlatformTables, handlers: Mapping[str, Handler],
                events: Sequence[Event], *, now: datetime) -> list[bool]:
    """Run the handlers of several events in one transaction with their inbox rows, each event
    once: one whose id is already in the inbox (or earlier in ``events``) is skipped. True for
    each applied. Consecutive events of a handler with ``apply_many`` go to it together; a
    handler that raises rolls the whole batch back and the exception propagates."""
    unique: dict[str, Event] = {}
    for event in events:
        unique.setdefault(event.id, event)
    with database.transaction() as session:
        # In id order, so two consumers given the same events wait for each other, never
        # deadlock, on the inbox's unique index. One statement, compiled once, whatever the
        # number of rows (SQLAlchemy's "insertmanyvalues" writes them as one multi-row INSERT).
        fresh = set(session.execute(
            _inbox_insert(tables, session.get_bind().dialect.name),
            [{"event_id": event_id, "event_type": unique[event_id].type, "received_at": now}
             for event_id in sorted(unique)]).scalars())
        to_apply = [event for event in unique.values() if event.id in fresh]
        for handler, group in groupby(to_apply, key=lambda event: handlers[event.type]):
            many = getattr(handler, "apply_many", None)
            if many is not None:
                many(session, list(group))
            else:
                for event in group:
                    handler(session, event)
    results, seen = [], set()
    for event in events:
        results.append(event.id in fresh and event.id not in seen)
        seen.add(event.id)
    return results


@lru_cache(maxsize=16)
def _inbox_row(inbox):
    """``INSERT INTO inbox (event_id, event_type, received_at)``, its values bound at each call:
    built once per inbox table, so no statement object (and no cache key for SQLAlchemy's
    compiled cache) is made again for every event; on PostgreSQL sent straight to the driver
    (``shared.driver_db.rows_in_session``; a duplicate still raises ``IntegrityError``)."""
    return insert(inbox)


@lru_cache(maxsize=16)
def _inbox_insert(tables: PlatformTables, dialect: str):
    """``INSERT INTO inbox … ON CONFLICT (event_id) DO NOTHING RETURNING event_id``."""
    inbox = tables.inbox
    factory = pg_insert if dialect == "postgresql" else sqlite_insert
    return factory(inbox).on_conflict_do_nothing(
        index_elements=[inbox.c.event_id]).returning(inbox.c.event_id)


def _is_inbox_duplicate(database: Database, tables: PlatformTables, event_id: str) -> bool:
    from sqlalchemy import select
    with database.transaction() as session:
        return session.execute(
            select(tables.inbox.c.event_id).where(tables.inbox.c.event_id == event_id)
        ).first() is not None


def _as_envelope(body: Any) -> dict:
    """The decoded body; a publisher that sent JSON without a content type gives raw bytes."""
    if isinstance(body, (bytes, bytearray, str)):
        try:
            body = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return {}
    return body if isinstance(body, dict) else {}


@dataclass
class _Held:
    """A delivered message waiting in the batch: its body, the message, headers, event, handler."""

    body: Any
    message: Any
    headers: dict
    event: Event
    handler: Handler


class EventConsumer(ConsumerMixin):
    def __init__(self, service: str, database: Database, tables: PlatformTables, broker_url: str,
                 handlers: Mapping[str, Handler], *, retry_delays_s=(1.0, 5.0, 30.0, 120.0),
                 outage_backoff_s: tuple[float, float] = OUTAGE_BACKOFF_S,
                 clock=utcnow, prefetch_count: int = 100, batch_size: int = 50) -> None:
        self.service = service
        self.database = database
        self.tables = tables
        self.broker_url = broker_url
        self.amqp = topology.is_amqp(broker_url)
        self.handlers = dict(handlers)
        self.retry_delays_s = tuple(retry_delays_s)
        self.outage_backoff_s = outage_backoff_s
        self.clock = clock
        self.prefetch_count = prefetch_count
        self.batch_size = max(1, min(batch_size, prefetch_count))
        self._held: list[_Held] = []
        self.batches = 0  # transactions that applied more than one event
        self.connection = topology.connection_for(broker_url)
        self._producer: Producer | None = None
        self._consuming = None  # the (cloned) connection messages arrive on
        self._stop_event: threading.Event | None = None
        self.applied = 0
        self.skipped = 0
        self.outage_waits = 0

    @property
    def max_attempts(self) -> int:
        return len(self.retry_delays_s) + 1

    # -- kombu ConsumerMixin hooks ------------------------------------------------------
    def get_consumers(self, consumer_cls, channel):
        topology.declare(self.connection)
        channel.basic_qos(0, self.prefetch_count, False)
        queue = topology.service_queue(self.service, self.amqp)
        return [consumer_cls(queues=[queue], callbacks=[self.on_message], accept=ACCEPT,
                             prefetch_count=self.prefetch_count)]

    def on_connection_revived(self):
        self._let_go_of_held()  # delivered on a connection that is gone: redelivered
        self._producer = None

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self._consuming = connection

    def on_consume_end(self, connection, channel):
        self._let_go_of_held()
        self._consuming = None

    def on_iteration(self):
        self._apply_held()
        if self._stopping():
            self.should_stop = True

    def _stopping(self) -> bool:
        return self.should_stop or (self._stop_event is not None and self._stop_event.is_set())

    def run_until(self, stop: threading.Event) -> None:
        self._stop_event = stop
        self.should_stop = False
        self.run()

    # -- messages -----------------------------------------------------------------------
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self.connection.channel(), serializer=SERIALIZER)
        return self._producer

    def on_decode_error(self, message, exc: Exception) -> None:
        """A body Kombu cannot decode is dead-lettered, never left unacknowledged."""
        log.error("undecodable message dead-lettered", extra={"service": self.service,
                                                             "error": repr(exc)})
        self._dead_letter(message.body, message, dict(message.headers or {}),
                          f"undecodable message: {exc!r}")

    def on_message(self, body: Any, message) -> None:
        headers = dict(message.headers or {})
        not_before = headers.get(NOT_BEFORE_HEADER)
        if not self.amqp and not_before and float(not_before) > time.time():
            self._requeue_later(body, headers)
            message.ack()
            time.sleep(min(0.05, max(0.0, float(not_before) - time.time())))
            return
        try:
            event = Event.from_envelope(_as_envelope(body))
        except MalformedEvent as exc:
            log.error("malformed event dead-lettered", extra={"service": self.service, "error": str(exc)})
            self._dead_letter(body, message, headers, f"malformed event: {exc}")
            return
        handler = self.handlers.get(event.type)
        if handler is None:
            message.ack()
            return
        held = _Held(body, message, headers, event, handler)
        if self.batch_size > 1 and getattr(handler, "apply_many", None) is not None:
            self._held.append(held)
            if len(self._held) >= self.batch_size:
                self._apply_held(take_more=False)
            return
        self._apply_held(take_more=False)  # the events delivered before it go first
        self._apply_one(held)

    def _apply_one(self, held: _Held) -> None:
        try:
            applied = self._apply_through_outages(
                lambda: apply_once(self.database, self.tables, held.handler, held.event,
                                   now=self.clock()), held.event)
        except _Stopping:
            self._leave_for_redelivery(held.message)
            return
        except Exception as exc:  # noqa: BLE001 - any failure of the event itself is retried
            self._retry_or_dead_letter(held.body, held.message, held.headers, held.event, exc)
            return
        if applied:
            self.applied += 1
        else:
            self.skipped += 1
        held.message.ack()

    # -- batches: what the broker already delivered, in one transaction ---------------------
    def _apply_held(self, take_more: bool = True) -> None:
        """Apply the held messages, after taking (``take_more``) those the broker has already
        delivered, without waiting for any."""
        if not self._held:
            return
        consuming = self._consuming
        if take_more and consuming is not None:
            try:
                for _more in range(self.batch_size - len(self._held)):
                    consuming.drain_events(timeout=0)
                    if not self._held:
                        return  # a full batch went while taking them: start the next one later
            except socket.timeout:
                pass
            except Exception:
                self._let_go_of_held()  # the connection failed: the broker redelivers them
                raise
        held, self._held = self._held, []
        if len(held) == 1:
            self._apply_one(held[0])
            return
        events = [item.event for item in held]
        try:
            results = self._apply_through_outages(
                lambda: apply_batch(self.database, self.tables, self.handlers, events,
                                    now=self.clock()), events[0], len(events))
        except _Stopping:
            for item in held:
                self._leave_for_redelivery(item.message)
            return
        except Exception as exc:  # noqa: BLE001 - find the failing event one by one
            log.warning("a batch failed; applying its events one by one", extra={
                "service": self.service, "events": len(events), "error": repr(exc)})
            for item in held:
                self._apply_one(item)
            return
        self.batches += 1
        for item, applied in zip(held, results):
            if applied:
                self.applied += 1
            else:
                self.skipped += 1
            item.message.ack()

    def _let_go_of_held(self) -> None:
        """Messages held when consuming ends: RabbitMQ redelivers them once their channel is
        gone; the embedded bus needs them put back."""
        held, self._held = self._held, []
        for item in held:
            try:
                self._leave_for_redelivery(item.message)
            except Exception:  # noqa: BLE001 - the transport is going away anyway
                log.warning("could not put a held message back", extra={
                    "service": self.service, "event_id": item.event.id})

    # -- outages: hold the event, never count them as attempts ----------------------------
    def _apply_through_outages(self, run: Callable[[], Any], event: Event, count: int = 1) -> Any:
        """``run`` (applying ``event``, or a batch of ``count`` starting with it), run again in
        place for as long as a dependency is unreachable."""
        delay, cap = self.outage_backoff_s
        while True:
            try:
                return run()
            except Exception as exc:
                if not dependency_unavailable(exc):
                    raise
                self.outage_waits += 1
                log.warning("dependency unavailable; holding the event", extra={
                    "service": self.service, "event_id": event.id, "event_type": event.type,
                    "events": count, "retry_in_s": delay, "error": type(exc).__name__})
                if not self._pause(delay):
                    raise _Stopping from exc
                delay = min(delay * 2, cap)

    def _pause(self, seconds: float) -> bool:
        """Wait ``seconds`` keeping the connection alive; False as soon as asked to stop."""
        deadline = time.monotonic() + seconds
        while not self._stopping():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            self._keep_alive()
            wait = min(remaining, _PAUSE_SLICE_S)
            if self._stop_event is not None:
                self._stop_event.wait(wait)
            else:
                time.sleep(wait)
        return False

    def _keep_alive(self) -> None:
        """An AMQP heartbeat, as the consume loop would send had this thread not been busy."""
        consuming = self._consuming
        if not self.amqp or consuming is None or not consuming.connected:
            return
        try:
            consuming.connection.send_heartbeat()  # py-amqp's connection
        except Exception:  # noqa: BLE001 - a dead connection is the consume loop's to handle
            pass

    def _leave_for_redelivery(self, message) -> None:
        """Stopping mid-outage: RabbitMQ redelivers an unacknowledged message once this
        connection closes; the embedded bus needs the message put back."""
        if not self.amqp:
            message.requeue()

    def _retry_or_dead_letter(self, body, message, headers, event: Event, exc: Exception) -> None:
        attempt = int(headers.get(ATTEMPT_HEADER, 0)) + 1
        log.warning("handler failed", extra={"service": self.service, "event_id": event.id,
                                             "event_type": event.type, "attempt": attempt,
                                             "error": repr(exc)})
        if attempt >= self.max_attempts:
            self._dead_letter(body, message, headers, repr(exc))
            return
        delay = self.retry_delays_s[attempt - 1]
        headers = {**headers, ATTEMPT_HEADER: attempt, ERROR_HEADER: repr(exc)[:500]}
        if self.amqp:
            self.producer().publish(
                body, exchange="", routing_key=topology.retry_queue_name(self.service),
                headers=headers, delivery_mode=2, expiration=delay,
                serializer=SERIALIZER, declare=[], retry=True)
        else:
            headers[NOT_BEFORE_HEADER] = time.time() + delay
            self._requeue_later(body, headers)
        message.ack()

    def _requeue_later(self, body, headers) -> None:
        self.producer().publish(body, exchange="", routing_key=topology.queue_name(self.service),
                                headers=headers, delivery_mode=2, serializer=SERIALIZER,
                                declare=[], retry=True)

    def _dead_letter(self, body, message, headers, error: str) -> None:
        if self.amqp:
            message.reject(requeue=False)  # the queue dead-letters it to <service>.events.dlq
            return
        headers = {**headers, ERROR_HEADER: error[:500]}
        headers.pop(NOT_BEFORE_HEADER, None)
        self.producer().publish(body, exchange="", routing_key=topology.dlq_name(self.service),
                                headers=headers, delivery_mode=2, serializer=SERIALIZER,
                                declare=[], retry=True)
        message.ack()


def prune(database: Database, tables: PlatformTables, *, now: datetime, outbox_days: int,
          inbox_days: int, idempotency_hours: int) -> None:
    """Drop sent outbox rows, inbox rows and stored ``Idempotency-Key`` answers older than
    their retention periods (an expired key is never replayed anyway)."""
    with database.transaction() as session:
        session.execute(delete(tables.outbox).where(
            tables.outbox.c.sent_at.is_not(None),
            tables.outbox.c.sent_at < now - timedelta(days=outbox_days)))
        session.execute(delete(tables.inbox).where(
            tables.inbox.c.received_at < now - timedelta(days=inbox_days)))
        session.execute(delete(tables.idempotency_key).where(
            tables.idempotency_key.c.created_at < now - timedelta(hours=idempotency_hours)))
