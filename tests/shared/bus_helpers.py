"""Helpers for bus tests: a registry database, a relay, a consumer thread, a probe queue."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from services.registry import service as registry_service
from services.registry.adapters.orm import platform
from services.registry.app import build_context
from shared.bus.consumer import EventConsumer
from shared.bus.relay import Relay
from shared.migrations import upgrade


def registry_context(settings):
    upgrade("registry", settings.database_url("registry"))
    return build_context(settings)


def register(ctx, name="Acme", **fields):
    with ctx.database.transaction() as session:
        client = registry_service.register_client(
            session, {"name": name, "kind": "external", "category": "enterprise", **fields},
            now=ctx.clock(), rules=ctx.extras["rules"])
    return client


def relay_for(ctx) -> Relay:
    return Relay("registry", ctx.database, platform, ctx.settings.broker_url, poll_s=0.05)


@contextmanager
def running(consumer: EventConsumer):
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run_until, args=(stop,), daemon=True)
    thread.start()
    try:
        yield consumer
    finally:
        stop.set()
        thread.join(10)


def wait_for(condition, timeout=15.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
