"""``/healthz`` and ``/readyz`` for every service, and the broker's state and the event
backlog as metrics.

A web process answers from its database alone: writes reach the bus through the outbox, which
the relay empties. So ``/readyz`` is ready exactly when the database answers; a broker outage
delays events but never takes the API down. The broker is reported beside it — in
``/readyz?verbose`` (``checks.broker``) and as ``clientloop_broker_up{service}`` on
``/metrics`` — from a ``BrokerProbe``: one short-lived connection at a time per process, its
answer kept a few seconds, so probes and scrapes never pile connections up on the broker. The
same connection reads how many messages wait in the service's queues (passive declarations).

What waits in the service's database is on ``/metrics`` too (``BacklogProbe``, read at most
once every few seconds per process): events recorded and not yet published — how many, and how
long the oldest has waited — and webhook deliveries still to make or given up. The relay and the
webhook dispatcher run without a web server of their own; their backlog is the database's, so
any web process of the service can report it.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from flask import Flask, jsonify, request
from sqlalchemy import func, select, text

from shared.bus import topology
from shared.clock import as_utc
from shared.db import Database, PlatformTables
from shared.web import metrics
from shared.webhooks.store import FAILED, PENDING
from shared.web.problems import problem

OK = "ok"
log = logging.getLogger("clientloop.health")
#: The webhook delivery states reported: still to be made, and given up after the last attempt.
WEBHOOK_STATES = (PENDING, FAILED)


class _Probe:
    """An answer read at most once every ``ttl_s``; callers meanwhile wait for that one answer,
    and ``on_result`` hears each new one (as :meth:`_reported` puts it)."""

    def __init__(self, *, ttl_s: float, on_result: Callable | None,
                 clock: Callable[[], float]) -> None:
        self.ttl_s = ttl_s
        self.on_result = on_result
        self.clock = clock
        self._lock = threading.Lock()
        self._result = None
        self._checked_at: float | None = None

    def check(self):
        with self._lock:
            if self._checked_at is None or self.clock() - self._checked_at >= self.ttl_s:
                self._result = self._read()
                self._checked_at = self.clock()
                if self.on_result is not None:
                    self.on_result(self._reported(self._result))
            return self._result

    def _read(self):
        raise NotImplementedError

    def _reported(self, result):
        return result


class BrokerProbe(_Probe):
    """Whether the broker accepts a connection: ``check()`` answers ``"ok"`` or
    ``"unavailable: <error class>"``, and ``on_result`` hears whether it was ok. Given a
    ``service``, the same connection also reads how many messages wait in the service's queues
    (``depths``: :func:`queue_depths`; empty while the broker is unavailable)."""

    def __init__(self, broker_url: str, *, ttl_s: float = 5.0, timeout_s: float = 2.0,
                 on_result: Callable[[bool], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, service: str | None = None) -> None:
        super().__init__(ttl_s=ttl_s, on_result=on_result, clock=clock)
        self.broker_url = broker_url
        self.timeout_s = timeout_s
        self.service = service
        self.depths: dict[str, int | None] = {}

    def _read(self) -> str:
        found: dict[str, int | None] = {}
        inspect = None if self.service is None else \
            (lambda connection: found.update(queue_depths(connection, self.service)))
        result = broker_check(self.broker_url, timeout_s=self.timeout_s, inspect=inspect)
        self.depths = found if result == OK else {}
        return result

    def _reported(self, result: str) -> bool:
        return result == OK


#: The service's queues by what they hold: events to apply, events waiting for a retry, and
#: events given up (dead letters).
QUEUES = {"events": topology.queue_name, "retry": topology.retry_queue_name,
          "dead_letter": topology.dlq_name}


def queue_depths(connection, service: str) -> dict[str, int | None]:
    """Messages waiting in each of the service's queues, by passive declarations (nothing is
    created); ``None`` for a queue not declared yet (its consumer never started)."""
    depths: dict[str, int | None] = {}
    for kind, name in QUEUES.items():
        try:
            state = topology.queue_state(connection, name(service))
        except Exception:  # noqa: BLE001 - unknown, like a queue not declared
            state = None
        depths[kind] = None if state is None else state.message_count
    return depths


def broker_check(broker_url: str, *, timeout_s: float = 2.0,
                 inspect: Callable[[Any], object] | None = None) -> str:
    """A short-lived connection, never one held by a web worker; a refusal answers at once
    (no back-off sleep between the two attempts). ``inspect(connection)`` runs on it once
    connected."""
    try:
        connection = topology.connection_for(broker_url, connect_timeout=timeout_s) \
            if topology.is_amqp(broker_url) else topology.connection_for(broker_url)
        try:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                                         interval_max=0, timeout=timeout_s)
            if inspect is not None:
                inspect(connection)
        finally:
            connection.release()
        return OK
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"unavailable: {type(exc).__name__}"


def database_check(database: Database) -> str:
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return OK
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"unavailable: {type(exc).__name__}"


@dataclass(frozen=True)
class Backlog:
    outbox_unsent: int
    oldest_unsent_s: float   # 0 when nothing waits
    webhook_deliveries: dict[str, int]   # state → deliveries


def read_backlog(database: Database, tables: PlatformTables, now: datetime) -> Backlog:
    """Two statements: the unsent outbox rows (through the index on ``sent_at``) and the webhook
    deliveries in the reported states (through the index on ``status``)."""
    outbox, delivery = tables.outbox, tables.webhook_delivery
    with database.engine.connect() as connection:
        unsent, oldest = connection.execute(
            select(func.count(), func.min(outbox.c.created_at))
            .where(outbox.c.sent_at.is_(None))).one()
        counted = dict(connection.execute(
            select(delivery.c.status, func.count()).where(delivery.c.status.in_(WEBHOOK_STATES))
            .group_by(delivery.c.status)).all())
    waited = 0.0 if oldest is None else max(0.0, (as_utc(now) - as_utc(oldest)).total_seconds())
    return Backlog(int(unsent), waited, {state: int(counted.get(state, 0)) for state in WEBHOOK_STATES})


class BacklogProbe(_Probe):
    """The service's backlog (:func:`read_backlog`); ``None`` while the database does not
    answer."""

    def __init__(self, database: Database, tables: PlatformTables, *,
                 now: Callable[[], datetime], ttl_s: float = 5.0,
                 on_result: Callable[[Backlog | None], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl_s=ttl_s, on_result=on_result, clock=clock)
        self.database = database
        self.tables = tables
        self.now = now

    def _read(self) -> Backlog | None:
        try:
            return read_backlog(self.database, self.tables, self.now())
        except Exception as exc:  # noqa: BLE001 - reported as unknown, not raised
            log.warning("could not read the event backlog", extra={"error": repr(exc)})
            return None


def _backlog_metrics(app: Flask, ctx) -> BacklogProbe:
    unsent = metrics.gauge(app, "clientloop_outbox_unsent",
                           "Events recorded and not yet published to the message bus", ["service"])
    oldest = metrics.gauge(app, "clientloop_outbox_oldest_unsent_seconds",
                           "How long the oldest event not yet published has waited (0: none waits)",
                           ["service"])
    deliveries = metrics.gauge(app, "clientloop_webhook_deliveries",
                               "Webhook deliveries still to be made (pending) or given up (failed)",
                               ["service", "status"])

    def publish(backlog: Backlog | None) -> None:
        unknown = math.nan
        unsent.labels(ctx.service).set(unknown if backlog is None else backlog.outbox_unsent)
        oldest.labels(ctx.service).set(unknown if backlog is None else backlog.oldest_unsent_s)
        for state in WEBHOOK_STATES:
            deliveries.labels(ctx.service, state).set(
                unknown if backlog is None else backlog.webhook_deliveries[state])

    probe = BacklogProbe(ctx.database, ctx.tables, now=ctx.clock, on_result=publish)
    metrics.before_scrape(app, probe.check)
    return probe


def init_health(app: Flask, ctx) -> BrokerProbe:
    broker_up = metrics.gauge(app, "clientloop_broker_up",
                              "1 when the message broker accepted a connection at the last check",
                              ["service"])
    queued = metrics.gauge(app, "clientloop_bus_messages",
                           "Messages waiting in the service's queues: events to apply (events), "
                           "waiting for a retry (retry), given up (dead_letter)",
                           ["service", "queue"])

    def broker_result(up: bool) -> None:
        broker_up.labels(ctx.service).set(1 if up else 0)
        for kind in QUEUES:
            depth = probe.depths.get(kind)
            queued.labels(ctx.service, kind).set(math.nan if depth is None else depth)

    probe = BrokerProbe(ctx.settings.broker_url, service=ctx.service, on_result=broker_result)
    metrics.before_scrape(app, probe.check)
    app.extensions["clientloop_broker"] = probe
    app.extensions["clientloop_backlog"] = _backlog_metrics(app, ctx)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", service=ctx.service)

    @app.get("/readyz")
    def readyz():
        checks = {"database": database_check(ctx.database)}
        if "verbose" in request.args:
            checks["broker"] = probe.check()
        if checks["database"] == OK:
            return jsonify(status="ready", service=ctx.service, checks=checks)
        return problem(503, "The database is unavailable.", checks=checks)

    return probe
