"""How the command line finds and runs each service: apps, relays, consumers, jobs.

Every service package provides ``services.<name>.app`` with:

* ``build_context(settings) -> ServiceContext`` and ``create_app(settings=None, context=None)``;
* ``event_handlers(ctx) -> {event type: handler(session, event)}`` (optional);
* ``run_jobs(ctx, now)``: one pass of its periodic jobs (optional).

Wherever a service's relay runs (``clientloop relay`` and each service in ``clientloop up``), its
webhook dispatcher (``shared.webhooks.dispatcher``) runs beside it on a thread of its own.

A consume process (``clientloop consume``, and each service in ``clientloop up``) runs the
consumer and the periodic jobs on two threads of their own, so a long job never delays events
(nor the AMQP heartbeats of the consumer's connection) and a busy consumer never delays a job.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
import time
from types import ModuleType
from typing import Any, Callable

from shared.bus.consumer import EventConsumer, prune
from shared.bus.relay import Relay
from shared.config import SERVICE_NAMES, Settings
from shared.migrations import upgrade
from shared.webhooks.dispatcher import Dispatcher
from shared.webhooks.store import prune_deliveries

log = logging.getLogger("clientloop.runtime")


def available_services() -> tuple[str, ...]:
    return tuple(name for name in SERVICE_NAMES
                 if importlib.util.find_spec(f"services.{name}.app") is not None)


def service_module(service: str) -> ModuleType:
    if service not in available_services():
        raise SystemExit(f"unknown service {service!r}; choose from {', '.join(available_services())}")
    return importlib.import_module(f"services.{service}.app")


def migrate(service: str, settings: Settings) -> None:
    upgrade(service, settings.database_url(service))


def run_jobs_once(service: str, ctx) -> None:
    module = service_module(service)
    now = ctx.clock()
    if hasattr(module, "run_jobs"):
        module.run_jobs(ctx, now)
    prune(ctx.database, ctx.tables, now=now, outbox_days=ctx.settings.outbox_retention_days,
          inbox_days=ctx.settings.inbox_retention_days,
          idempotency_hours=ctx.settings.idempotency_hours)
    with ctx.database.transaction() as session:
        prune_deliveries(session, ctx.tables, now=now,
                         days=ctx.settings.webhooks_delivery_retention_days)


def make_relay(service: str, ctx) -> Relay:
    return Relay(service, ctx.database, ctx.tables, ctx.settings.broker_url,
                 poll_s=min(ctx.settings.relay_poll_s, 0.2) if ctx.settings.embedded_bus
                 else ctx.settings.relay_poll_s)


def make_dispatcher(service: str, ctx) -> Dispatcher:
    """The service's webhook dispatcher: it looks for new events and due attempts every
    ``relay_poll_s`` seconds, at least once a second."""
    return Dispatcher(service, ctx.database, ctx.tables, ctx.settings, clock=ctx.clock,
                      poll_s=min(ctx.settings.relay_poll_s, 1.0))


def make_consumer(service: str, ctx) -> EventConsumer:
    module = service_module(service)
    handlers = module.event_handlers(ctx) if hasattr(module, "event_handlers") else {}
    return EventConsumer(service, ctx.database, ctx.tables, ctx.settings.broker_url, handlers,
                         retry_delays_s=ctx.settings.retry_delays_s, clock=ctx.clock)


class PeriodicJobs:
    """One pass of a service's jobs every ``interval_s`` (start to start), on its own thread.

    A pass that fails is logged and the next one runs at the next interval as usual."""

    def __init__(self, service: str, run_once: Callable[[], Any], interval_s: float) -> None:
        self.service = service
        self.run_once = run_once
        self.interval_s = interval_s
        self.passes = 0
        self.failures = 0

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.run_once()
                self.passes += 1
            except Exception:  # noqa: BLE001 - a failing job waits for the next interval
                self.failures += 1
                log.exception("periodic jobs failed; retrying at the next interval",
                              extra={"service": self.service})
            stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))


def make_jobs(service: str, ctx) -> PeriodicJobs:
    return PeriodicJobs(service, lambda: run_jobs_once(service, ctx), ctx.settings.jobs_interval_s)


class Workers:
    """Relays, consumers and periodic jobs of several services as threads of one process."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop or threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, name: str, target) -> None:
        def guarded():
            while not self.stop.is_set():
                try:
                    target(self.stop)
                    return
                except Exception:  # noqa: BLE001 - restart after a crash, never die silently
                    log.exception("worker crashed; restarting", extra={"worker": name})
                    self.stop.wait(2.0)
        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def start_service(self, service: str, ctx, *, relay: bool = True, consumer: bool = True,
                      jobs: bool = True) -> None:
        if relay:
            self.start(f"{service}-relay", make_relay(service, ctx).run)
            self.start(f"{service}-webhooks", make_dispatcher(service, ctx).run)
        if consumer:
            self.start(f"{service}-consumer", lambda stop: make_consumer(service, ctx).run_until(stop))
        if jobs:
            self.start(f"{service}-jobs", make_jobs(service, ctx).run)

    def wait(self) -> None:
        """Until ``stop`` is set (by a signal handler, say)."""
        while not self.stop.wait(1.0):
            pass

    def shutdown(self, timeout: float = 10.0) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout)
