"""``/healthz`` and ``/readyz`` for every service, and the broker's state as a metric.

A web process answers from its database alone: writes reach the bus through the outbox, which
the relay empties. So ``/readyz`` is ready exactly when the database answers; a broker outage
delays events but never takes the API down. The broker is reported beside it — in
``/readyz?verbose`` (``checks.broker``) and as ``clientloop_broker_up{service}`` on
``/metrics`` — from a ``BrokerProbe``: one short-lived connection at a time per process, its
answer kept a few seconds, so probes and scrapes never pile connections up on the broker.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from flask import Flask, jsonify, request
from sqlalchemy import text

from shared.bus import topology
from shared.db import Database
from shared.web import metrics
from shared.web.problems import problem

OK = "ok"


class BrokerProbe:
    """Whether the broker accepts a connection, checked at most once every ``ttl_s``."""

    def __init__(self, broker_url: str, *, ttl_s: float = 5.0, timeout_s: float = 2.0,
                 on_result: Callable[[bool], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.broker_url = broker_url
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.on_result = on_result
        self.clock = clock
        self._lock = threading.Lock()
        self._result: str | None = None
        self._checked_at = 0.0

    def check(self) -> str:
        """``"ok"`` or ``"unavailable: <error class>"``; callers meanwhile wait for one answer."""
        with self._lock:
            if self._result is None or self.clock() - self._checked_at >= self.ttl_s:
                self._result = broker_check(self.broker_url, timeout_s=self.timeout_s)
                self._checked_at = self.clock()
                if self.on_result is not None:
                    self.on_result(self._result == OK)
            return self._result


def broker_check(broker_url: str, *, timeout_s: float = 2.0) -> str:
    """A short-lived connection, never one held by a web worker; a refusal answers at once
    (no back-off sleep between the two attempts)."""
    try:
        connection = topology.connection_for(broker_url, connect_timeout=timeout_s) \
            if topology.is_amqp(broker_url) else topology.connection_for(broker_url)
        try:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                                         interval_max=0, timeout=timeout_s)
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


def init_health(app: Flask, ctx) -> BrokerProbe:
    broker_up = metrics.gauge(app, "clientloop_broker_up",
                              "1 when the message broker accepted a connection at the last check",
                              ["service"])
    probe = BrokerProbe(ctx.settings.broker_url,
                        on_result=lambda up: broker_up.labels(ctx.service).set(1 if up else 0))
    metrics.before_scrape(app, probe.check)

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
