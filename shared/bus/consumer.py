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
import threading
import time
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from kombu import Producer
from kombu.mixins import ConsumerMixin
from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.bus import topology
from shared.bus.envelope import SERIALIZER, Event, MalformedEvent
from shared.clock import utcnow
from shared.db import Database, PlatformTables
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
            session.execute(insert(tables.inbox).values(
                event_id=event.id, event_type=event.type, received_at=now))
            handler(session, event)
    except IntegrityError as exc:
        if _is_inbox_duplicate(database, tables, event.id):
            return False
        raise exc
    return True


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


class EventConsumer(ConsumerMixin):
    def __init__(self, service: str, database: Database, tables: PlatformTables, broker_url: str,
                 handlers: Mapping[str, Handler], *, retry_delays_s=(1.0, 5.0, 30.0, 120.0),
                 outage_backoff_s: tuple[float, float] = OUTAGE_BACKOFF_S,
                 clock=utcnow, prefetch_count: int = 20) -> None:
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
        self._producer = None

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self._consuming = connection

    def on_consume_end(self, connection, channel):
        self._consuming = None

    def on_iteration(self):
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
        try:
            applied = self._apply_through_outages(handler, event)
        except _Stopping:
            self._leave_for_redelivery(message)
            return
        except Exception as exc:  # noqa: BLE001 - any failure of the event itself is retried
            self._retry_or_dead_letter(body, message, headers, event, exc)
            return
        if applied:
            self.applied += 1
        else:
            self.skipped += 1
        message.ack()

    # -- outages: hold the event, never count them as attempts ----------------------------
    def _apply_through_outages(self, handler: Handler, event: Event) -> bool:
        """``apply_once``, run again in place for as long as a dependency is unreachable."""
        delay, cap = self.outage_backoff_s
        while True:
            try:
                return apply_once(self.database, self.tables, handler, event, now=self.clock())
            except Exception as exc:
                if not dependency_unavailable(exc):
                    raise
                self.outage_waits += 1
                log.warning("dependency unavailable; holding the event", extra={
                    "service": self.service, "event_id": event.id, "event_type": event.type,
                    "retry_in_s": delay, "error": type(exc).__name__})
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
