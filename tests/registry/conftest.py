"""Registry fixtures: a migrated SQLite registry with a clock the test moves, its Flask app,
and helpers to register clients, apply bus events and read what was published."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from services.registry import service as registry_service
from services.registry.adapters.orm import platform
from services.registry.app import build_context, create_app, event_handlers
from shared.bus.consumer import apply_once
from shared.bus.envelope import Event
from shared.migrations import upgrade
from tests.registry.registry_events import BusEvents


class Clock:
    """``ctx.clock``: a fixed instant (a whole second) that tests move on."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry_ctx(settings, clock):
    upgrade("registry", settings.database_url("registry"))
    ctx = build_context(settings, clock=clock)
    yield ctx
    ctx.database.dispose()


@pytest.fixture
def registry_app(registry_ctx):
    return create_app(context=registry_ctx)


@pytest.fixture
def http(registry_app):
    return registry_app.test_client()


@pytest.fixture
def bus(clock) -> BusEvents:
    return BusEvents(clock.now)


def register(ctx, name: str = "Acme 有限公司", *, client_id: str | None = None, **fields):
    fields = {"name": name, "kind": "external", "category": "enterprise", **fields}
    with ctx.database.transaction() as session:
        return registry_service.register_client(session, fields, now=ctx.clock(),
                                                rules=ctx.extras["rules"], client_id=client_id)


def deliver(ctx, *envelopes) -> list[bool]:
    """Apply envelopes as the consumer runner does (inbox + handler in one transaction)."""
    handlers = event_handlers(ctx)
    results = []
    for envelope in envelopes:
        event = Event.from_envelope(envelope)
        results.append(apply_once(ctx.database, platform, handlers[event.type], event,
                                  now=ctx.clock()))
    return results


def published(ctx, event_type: str | None = None) -> list[dict]:
    """Envelopes recorded in the outbox, oldest first (optionally of one type)."""
    with ctx.database.transaction() as session:
        rows = session.execute(select(platform.outbox.c.event_type, platform.outbox.c.body)
                               .order_by(platform.outbox.c.id)).all()
    return [json.loads(body) for kind, body in rows if event_type in (None, kind)]
