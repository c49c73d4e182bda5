"""The outbox relay: publishes committed outbox rows in order, with publisher confirms.

Run one per service (``clientloop relay SERVICE``). Several replicas are safe: on PostgreSQL
they elect one active relay through an advisory lock (the others wait as hot standbys), so a
client's events are never published out of order. The relay wakes on ``NOTIFY`` (PostgreSQL)
or an in-process signal (embedded), and polls as a fallback.

A relay that dies after publishing and before marking rows sent publishes them again when it
restarts: delivery is at least once and every consumer deduplicates by event id.

Each failed publish adds one to the row's ``attempts`` and keeps the reason in ``last_error``.
When the broker is unreachable the whole pass stops and is retried with backoff. When the broker
refuses one message (a negative confirm, e.g. a full queue with ``x-overflow: reject-publish``
bound to its event type) only that row's subject is held back: its later rows are not published
(a subject's events keep their order), other subjects' rows go on, and after a backoff of 0.5 s
doubling up to 30 s the subject is tried again from its oldest unsent row.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache

from kombu import Producer
from sqlalchemy import bindparam, text

from shared.bus import outbox, topology
from shared.bus.envelope import SERIALIZER
from shared.clock import utcnow
from shared.db import Database, PlatformTables, UTCDateTime
from shared.driver_db import sqlite_alone
from shared.outages import dependency_unavailable

log = logging.getLogger("clientloop.relay")

#: How long a subject whose event the broker refused waits before its next try: first, cap.
HOLD_BACKOFF_S = (0.5, 30.0)


@lru_cache(maxsize=None)
def _sqlite_mark(table: str):
    """SQLite: the rows whose ids are in the JSON array ``:ids`` marked sent at ``:at``."""
    return text(f"UPDATE {table} SET sent_at = :at "
                "WHERE id IN (SELECT value FROM json_each(:ids))").bindparams(
        bindparam("at", type_=UTCDateTime()))


@dataclass
class _Hold:
    """A subject held back after ``refusals`` refused publishes, until ``until`` (monotonic)."""

    refusals: int
    until: float


class Relay:
    def __init__(self, service: str, database: Database, tables: PlatformTables, broker_url: str,
                 *, poll_s: float = 1.0, batch_size: int = 100, clock=utcnow,
                 hold_backoff_s: tuple[float, float] = HOLD_BACKOFF_S) -> None:
        self.service = service
        self.database = database
        self.tables = tables
        self.broker_url = broker_url
        self.poll_s = poll_s
        self.batch_size = batch_size
        self.clock = clock
        self.hold_backoff_s = hold_backoff_s
        self._connection = None
        self._producer = None
        self._listener = None  # psycopg connection holding the leader lock and LISTEN
        self._holds: dict[str, _Hold] = {}

    # -- broker -------------------------------------------------------------------------
    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            self._connection = topology.connection_for(self.broker_url)
            self._connection.ensure_connection(max_retries=3)
            topology.declare(self._connection)
            self._producer = Producer(self._connection.channel(),
                                      exchange=topology.events_exchange(topology.is_amqp(self.broker_url)),
                                      serializer=SERIALIZER)
        return self._producer

    def _reset_broker(self) -> None:
        try:
            if self._connection is not None:
                self._connection.release()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass
        self._connection = None
        self._producer = None

    # -- one pass -----------------------------------------------------------------------
    def publish_pending(self) -> int:
        """Publish the pending rows in order, subject by subject; return how many were published.

        A subject with a row not published in this pass (refused now, or held back after an
        earlier refusal) has none of its later rows published in this pass either."""
        total = 0
        waiting: set[str] = set()
        while True:
            # From the oldest unsent row each time (a row committed late may have a lower id
            # than rows already published); every row read is either marked sent or its
            # subject joins ``waiting``, so the pass ends.
            rows = self._pending(waiting)
            if not rows:
                return total
            published: list[int] = []
            try:
                for row in rows:
                    if row.subject in waiting or self._held(row.subject):
                        waiting.add(row.subject)
                    elif self._publish(row):
                        published.append(row.id)
                    else:
                        waiting.add(row.subject)
            finally:
                if published:
                    self._mark_sent(published)
            total += len(published)
            if len(rows) < self.batch_size:
                # Every row committed before this batch was read is in it: one committed since
                # wakes the relay again (NOTIFY, or the in-process signal), so reading once
                # more now would only find nothing, at the cost of a transaction per wake.
                return total

    def _publish(self, row) -> bool:
        """True once the broker confirmed ``row``; False if it refused it (the subject is now
        held). Raises when the broker is unreachable, after recording the failure.

        Kombu's own publish retry is not used: it takes a negative confirm for a lost connection
        and would reconnect and publish the refused message again. A connection that was open
        and is found broken (the broker closed an idle one, say) is opened afresh once, here."""
        try:
            connected = self._producer is not None
            try:
                self._publish_once(row)
            except Exception as exc:
                if not connected or _is_refusal(exc) or not dependency_unavailable(exc):
                    raise
                self._reset_broker()
                self._publish_once(row)
        except Exception as exc:
            self._record_failure(row, exc)
            if dependency_unavailable(exc):
                raise
            self._hold(row.subject, exc)
            if not _is_refusal(exc):
                self._reset_broker()  # a channel error closed the channel: start afresh
            return False
        self._holds.pop(row.subject, None)
        return True

    def _publish_once(self, row) -> None:
        producer = self._ensure_producer()
        # The stored body is the envelope's JSON already: published as it is (the serializer
        # passes text through), not parsed and serialised again.
        producer.publish(row.body, routing_key=row.event_type, delivery_mode=2,
                         message_id=row.event_id, declare=[], retry=False)

    def _held(self, subject: str) -> bool:
        hold = self._holds.get(subject)
        return hold is not None and time.monotonic() < hold.until

    def _hold(self, subject: str, exc: Exception) -> None:
        first, cap = self.hold_backoff_s
        refusals = self._holds[subject].refusals + 1 if subject in self._holds else 1
        delay = min(cap, first * 2 ** (refusals - 1))
        self._holds[subject] = _Hold(refusals, time.monotonic() + delay)
        log.warning("broker refused an event; holding its subject back", extra={
            "service": self.service, "subject": subject, "refusals": refusals,
            "retry_in_s": delay, "error": _describe(exc)})

    def _record_failure(self, row, exc: Exception) -> None:
        try:
            with self.database.transaction() as session:
                outbox.record_failure(session, self.tables, row.id, _describe(exc))
        except Exception:  # noqa: BLE001 - the database may be what is down; the row stays unsent
            log.warning("could not record a failed publish", extra={
                "service": self.service, "event_id": row.event_id})

    def _pending(self, waiting: set[str]):
        if self._listener is not None:
            from psycopg.rows import namedtuple_row
            skip = " AND subject <> ALL(%s)" if waiting else ""
            with self._listener.cursor(row_factory=namedtuple_row) as cursor:
                return cursor.execute(
                    f"SELECT id, event_id, event_type, subject, body FROM "
                    f"{self.tables.outbox.name} WHERE sent_at IS NULL{skip} ORDER BY id LIMIT %s",
                    (*([sorted(waiting)] if waiting else []), self.batch_size)).fetchall()
        with self.database.reading() as connection:   # SQLite: without the write lock
            return outbox.pending(connection, self.tables, self.batch_size,
                                  skip_subjects=waiting)

    def _mark_sent(self, ids: list[int]) -> None:
        if self._listener is not None:
            # The ids cast to bigint[], the column's own type. psycopg sends a list of small
            # ints as smallint[], and after five passes as a prepared statement: for
            # ``bigint = ANY(smallint[])`` PostgreSQL settled on a generic plan made while the
            # outbox was small, a sequential scan, and kept it as the outbox grew (every mark
            # read the whole table: 0.3 ms at 1,000 rows, 1 ms at 4,000, until an ANALYZE).
            # With the cast each mark is planned with its ids: the primary key's index.
            self._listener.execute(f"UPDATE {self.tables.outbox.name} SET sent_at = %s "
                                   "WHERE id = ANY(%s::bigint[])", (self.clock(), ids))
            return
        if self.database.dialect == "sqlite":
            self._mark_sent_alone(ids)
            return
        with self.database.transaction() as session:
            outbox.mark_sent(session, self.tables, ids, self.clock())

    def _mark_sent_alone(self, ids: list[int]) -> None:
        """SQLite: the mark as **one** statement in autocommit
        (``shared.driver_db.sqlite_alone``). SQLite's write lock is then held for that
        statement's own work, inside one call that gives up the interpreter lock — not from a
        ``BEGIN IMMEDIATE`` to a ``COMMIT`` two statements later, while this thread waits for the
        interpreter between them (embedded, the relay runs at a lower priority, in a process
        whose threads share one interpreter lock, beside the web server's writes to the same
        file). The ids go as one JSON array (``json_each``)."""
        with sqlite_alone(self.database).connect() as connection:
            connection.execute(_sqlite_mark(self.tables.outbox.name),
                               {"at": self.clock(), "ids": json.dumps(ids)})

    # -- leadership and waiting ----------------------------------------------------------
    def _postgres(self) -> bool:
        return self.database.dialect == "postgresql"

    # On PostgreSQL the active relay reads and marks the outbox on its own connection, the one
    # that holds the leadership lock and LISTENs (autocommit: each statement its own
    # transaction), not through the pool: a pass is then two statements, with no checkout,
    # ping, BEGIN or COMMIT. Notifications that arrive meanwhile wait in psycopg's backlog for
    # the next wait. Should the connection fail, the pass fails and the relay starts afresh.

    def _acquire_leadership(self) -> bool:
        if not self._postgres():
            return True
        if self._listener is None:
            self._listener = listener_connection(self.database, self.service)
        key = zlib.crc32(f"clientloop.relay.{self.service}".encode())
        return bool(self._listener.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0])

    def _wait(self, stop: threading.Event) -> None:
        if self._listener is not None:
            for _ in self._listener.notifies(timeout=self.poll_s, stop_after=1):
                pass
            return
        outbox.outbox_written.wait(self.poll_s)
        outbox.outbox_written.clear()

    def run(self, stop: threading.Event) -> None:
        log.info("relay started", extra={"service": self.service})
        leader = False
        failures = 0
        while not stop.is_set():
            try:
                if not leader:
                    leader = self._acquire_leadership()
                    if not leader:
                        stop.wait(self.poll_s)
                        continue
                    log.info("relay is the active publisher", extra={"service": self.service})
                self.publish_pending()
                failures = 0
                self._wait(stop)
            except Exception:  # noqa: BLE001 - the relay must outlive broker and database outages
                failures += 1
                log.exception("relay pass failed; retrying", extra={"service": self.service})
                self._reset_broker()
                if self._listener is not None:
                    self._close_listener()
                    leader = False
                stop.wait(min(30.0, 0.5 * 2 ** min(failures, 6)))
        self.close()

    def _close_listener(self) -> None:
        try:
            self._listener.close()
        except Exception:  # noqa: BLE001
            pass
        self._listener = None

    def close(self) -> None:
        self._reset_broker()
        if self._listener is not None:
            self._close_listener()


def listener_connection(database: Database, service: str):
    """The active relay's own PostgreSQL connection: autocommit, listening on the service's
    outbox channel. Its commits (the ``sent_at`` marks) do not wait for the WAL to reach the
    disk (``synchronous_commit = off``): should PostgreSQL itself crash, the marks of its last
    fraction of a second may be lost, and those events are published again after the restart —
    delivery is at least once and every consumer deduplicates by event id. The relay is then
    not held up by a disk flush on every pass."""
    import psycopg

    from shared.db import psycopg_dsn
    connection = psycopg.connect(psycopg_dsn(database.engine.url), autocommit=True)
    connection.execute("SET synchronous_commit TO off")
    connection.execute(f'LISTEN "{outbox.notify_channel(service)}"')
    return connection


def _is_refusal(exc: Exception) -> bool:
    """A negative publisher confirm: the broker refused this message, the channel lives on."""
    from amqp.exceptions import MessageNacked
    return isinstance(exc, MessageNacked)


def _describe(exc: Exception) -> str:
    """What ``last_error`` keeps: the exception's type and message."""
    text = str(exc).strip()
    if not text and _is_refusal(exc):
        text = "the broker refused the message (negative publisher confirm)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def wait_until_sent(database: Database, tables: PlatformTables, timeout: float = 10.0) -> bool:
    """Test and CLI helper: wait until the outbox has nothing pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with database.transaction() as session:
            if not outbox.pending(session, tables, 1):
                return True
        time.sleep(0.05)
    return False
