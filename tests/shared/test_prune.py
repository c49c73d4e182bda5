"""Retention: the periodic jobs drop sent outbox rows, inbox rows and stored ``Idempotency-Key``
answers once they are older than their periods, and nothing younger or still unsent."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from shared.bus.consumer import prune
from shared.runtime import run_jobs_once
from tests.shared.bus_helpers import registry_context

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def ctx(settings):
    context = registry_context(settings)
    yield context
    context.database.dispose()


def add_outbox(ctx, *, created: datetime, sent: datetime | None) -> str:
    event_id = str(uuid.uuid4())
    with ctx.database.transaction() as session:
        session.execute(insert(ctx.tables.outbox).values(
            event_id=event_id, event_type="client.registered", subject="s", body="{}",
            created_at=created, sent_at=sent, attempts=0))
    return event_id


def add_inbox(ctx, *, received: datetime) -> str:
    event_id = str(uuid.uuid4())
    with ctx.database.transaction() as session:
        session.execute(insert(ctx.tables.inbox).values(
            event_id=event_id, event_type="client.registered", received_at=received))
    return event_id


def add_key(ctx, *, created: datetime, answered: bool = True) -> str:
    key = str(uuid.uuid4())
    with ctx.database.transaction() as session:
        session.execute(insert(ctx.tables.idempotency_key).values(
            scope="staff POST /api/v1/clients", key=key, request_hash="0" * 64,
            status_code=201 if answered else None,
            response_body='{"name": "Kept Client"}' if answered else None, created_at=created))
    return key


def kept(ctx):
    tables = ctx.tables
    with ctx.database.transaction() as session:
        return (set(session.execute(select(tables.outbox.c.event_id)).scalars()),
                set(session.execute(select(tables.inbox.c.event_id)).scalars()),
                set(session.execute(select(tables.idempotency_key.c.key)).scalars()))


def test_prune_drops_what_is_older_than_each_retention_period_and_nothing_else(ctx):
    old_sent = add_outbox(ctx, created=NOW - timedelta(days=9), sent=NOW - timedelta(days=8))
    recent_sent = add_outbox(ctx, created=NOW - timedelta(days=6), sent=NOW - timedelta(days=6))
    old_unsent = add_outbox(ctx, created=NOW - timedelta(days=20), sent=None)
    old_inbox = add_inbox(ctx, received=NOW - timedelta(days=31))
    recent_inbox = add_inbox(ctx, received=NOW - timedelta(days=29))
    old_key = add_key(ctx, created=NOW - timedelta(hours=25))
    old_unanswered_key = add_key(ctx, created=NOW - timedelta(hours=30), answered=False)
    recent_key = add_key(ctx, created=NOW - timedelta(hours=23))

    prune(ctx.database, ctx.tables, now=NOW, outbox_days=7, inbox_days=30, idempotency_hours=24)

    outbox, inbox, keys = kept(ctx)
    assert outbox == {recent_sent, old_unsent}
    assert old_sent not in outbox
    assert inbox == {recent_inbox} and old_inbox not in inbox
    assert keys == {recent_key}
    assert old_key not in keys and old_unanswered_key not in keys


def test_the_periodic_jobs_prune_idempotency_keys_by_the_configured_hours(ctx):
    ctx.settings = ctx.settings.with_overrides(idempotency_hours=2)
    now = ctx.clock()
    expired = add_key(ctx, created=now - timedelta(hours=3))
    fresh = add_key(ctx, created=now - timedelta(hours=1))
    run_jobs_once("registry", ctx)
    assert kept(ctx)[2] == {fresh}
    assert expired not in kept(ctx)[2]
