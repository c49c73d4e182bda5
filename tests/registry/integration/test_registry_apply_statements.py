"""Applying a ``complaint.opened`` on PostgreSQL, as the consumer runner does: a bounded number
of statements for one event — the client's event stored (or found already stored) by the
insert itself, with no read before it, and the ledger, history and checkpoint rows written with
the change events in one statement — and a redelivered event that the inbox no longer knows
changes nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.engine.interfaces import CacheStats

from services.registry import records
from services.registry.adapters.orm import (ClientEventRecord, RecordsCheckpointRecord,
                                            SatisfactionEntryRecord, platform)
from services.registry.app import build_context
from services.registry.consumers import event_handlers
from shared.bus.consumer import apply_batch
from shared.bus.envelope import Event
from shared.bus.outbox import notify_channel
from shared import driver_db
from shared.db import psycopg_dsn
from shared.migrations import upgrade
from tests.registry.conftest import deliver, register

#: inbox, client lock, client event, checkpoints, what the fold reads from there (events, value
#: changes, ledger, history: one statement), ledger and history deletes (where the fold rewrote
#: some), checkpoints delete, the rows of ledger, history and checkpoints with the clients'
#: figures and the change events.
MOST_STATEMENTS = 9
#: ... of which this test's case (a newer event; the history's last entry rewritten) takes
THIS_CASE = 8


@pytest.fixture
def pg_registry(settings, clock, postgres_url):
    upgrade("registry", postgres_url)
    ctx = build_context(settings.with_overrides(
        database_urls={**settings.database_urls, "registry": postgres_url}), clock=clock)
    yield ctx
    ctx.database.dispose()


def test_one_complaint_opened_takes_a_bounded_number_of_statements(pg_registry, bus, clock):
    """The usual case: the newest of the client's events (a late one rewrites more)."""
    client = register(pg_registry, annual_value={"amount": "250000.00", "currency": "CNY"})
    # warm: the client has records already
    deliver(pg_registry, bus.opened(client.id, at=clock.now - timedelta(minutes=2)))
    opened = bus.opened(client.id, at=clock.now - timedelta(minutes=1))
    statements: list[str] = []
    compiled_by_sqlalchemy: list[str] = []   # the others go straight to the driver

    def seen(_conn, _cursor, statement, _params, context, _many):
        statements.append(statement)
        if context is not None:
            compiled_by_sqlalchemy.append(statement)

    sa_event.listen(pg_registry.database.engine, "before_cursor_execute", seen)
    assert deliver(pg_registry, opened) == [True]
    assert len(statements) <= THIS_CASE < MOST_STATEMENTS, "\n".join(statements)
    # Only the client's row lock (it loads an ORM object) goes through SQLAlchemy's execution;
    # the runner's inbox row, the fold's reads, its event, deletes and write are sent to psycopg
    # directly (shared.driver_db.rows_in_session).
    assert len(compiled_by_sqlalchemy) == 1 and compiled_by_sqlalchemy[0].lstrip().startswith(
        "SELECT client.id"), compiled_by_sqlalchemy
    reads = [statement for statement in statements if "UNION ALL" in statement]
    assert len(reads) == 1 and all(f"FROM {table}" in reads[0] for table in (
        "client_event", "annual_value_change", "satisfaction_entry", "value_history_entry"))
    stored_by = [statement for statement in statements
                 if statement.lstrip().startswith("INSERT INTO client_event")]
    assert len(stored_by) == 1 and "ON CONFLICT" in stored_by[0], stored_by
    assert not any("client_event.event_id IN" in statement for statement in statements)
    assert len([statement for statement in statements if "outbox" in statement]) == 1
    written = [statement for statement in statements
               if "INSERT INTO satisfaction_entry" in statement]
    assert len(written) == 1, written
    assert not any(statement.lstrip().startswith("UPDATE client") for statement in statements)
    assert "UPDATE client SET" in written[0]
    assert all(f"INSERT INTO {table}" in written[0]
               for table in ("value_history_entry", "records_checkpoint", "outbox"))
    with pg_registry.database.transaction() as session:
        session.execute(platform.inbox.delete())  # the inbox forgot it: the client's table knows
    assert deliver(pg_registry, opened) == [True]  # the runner's inbox took it; nothing changed
    with pg_registry.database.transaction() as session:
        stored = session.execute(select(func.count()).select_from(ClientEventRecord)).scalar_one()
        ledger = session.execute(select(func.count()).select_from(SatisfactionEntryRecord)
                                 ).scalar_one()
    assert (stored, ledger) == (2, 2)


def test_a_fold_that_announces_nothing_writes_its_rows_and_wakes_no_relay(pg_registry, bus,
                                                                         clock):
    """The ledger, history and checkpoint rows of a fold with no change event to record are
    written without the relay's ``NOTIFY`` (which would wake it for nothing)."""
    import psycopg
    client = register(pg_registry, annual_value={"amount": "250000.00", "currency": "CNY"})
    deliver(pg_registry, bus.opened(client.id, at=clock.now - timedelta(minutes=2)),
            bus.survey(client.id, 35, at=clock.now - timedelta(minutes=1)))
    with pg_registry.database.transaction() as session:
        session.execute(RecordsCheckpointRecord.__table__.delete())
        ledger_before = session.execute(select(SatisfactionEntryRecord.position,
                                               SatisfactionEntryRecord.value)
                                        .order_by(SatisfactionEntryRecord.position)).all()
    listener = psycopg.connect(psycopg_dsn(pg_registry.database.engine.url), autocommit=True)
    try:
        listener.execute(f'LISTEN "{notify_channel("registry")}"')
        with pg_registry.database.transaction() as session:   # everything folded again
            client_row = records.lock_client(session, client.id)
            records.refresh(session, client_row, now=clock.now, rules=pg_registry.extras["rules"],
                            cause=None, announce=False)
        assert list(listener.notifies(timeout=0.5)) == []
    finally:
        listener.close()
    with pg_registry.database.transaction() as session:
        checkpoints = session.execute(select(func.count()).select_from(RecordsCheckpointRecord)
                                      ).scalar_one()
        ledger_after = session.execute(select(SatisfactionEntryRecord.position,
                                              SatisfactionEntryRecord.value)
                                       .order_by(SatisfactionEntryRecord.position)).all()
    assert checkpoints >= 1 and ledger_after == ledger_before and len(ledger_after) == 2


@pytest.fixture(params=["sqlite", "postgresql"])
def either_registry(request, registry_ctx):
    return registry_ctx if request.param == "sqlite" else request.getfixturevalue("pg_registry")


def test_batches_of_every_size_share_a_few_statement_shapes(either_registry, bus, clock):
    """The consumer applies whatever the broker delivered, 1 to 50 events of as many clients at
    once: the statements over several clients come in a few shapes, each compiled once, not one
    statement of up to 50 conditions built and compiled for every batch size met (those crowded
    SQLAlchemy's cache of compiled statements and cost the consumer a third of its time; on
    PostgreSQL the driver also parsed each of them again, being over its cache's limits)."""
    ctx = either_registry
    clients = [register(ctx, f"Client {number}").id for number in range(50)]
    statements: set[str] = set()
    sa_event.listen(ctx.database.engine, "before_cursor_execute",
                    lambda _conn, _cursor, statement, *_rest: statements.add(statement))
    handlers = event_handlers(ctx)
    for size in range(1, 51):
        events = [Event.from_envelope(bus.opened(client_id, at=clock.now - timedelta(seconds=size)))
                  for client_id in clients[:size]]
        assert apply_batch(ctx.database, platform, handlers, events,
                           now=clock.now) == [True] * size
    over_clients = {statement for statement in statements
                    if " OR " in statement or "UNION ALL" in statement or "unnest(" in statement}
    if ctx.database.dialect == "postgresql":   # one of each of the 5 kinds, one for the outbox
        assert len(over_clients) <= 6, over_clients
    else:   # 8 kinds of statement over several clients, in 7 sizes (2 to 64 places)
        assert len(over_clients) <= 8 * 7, len(over_clients)
    with ctx.database.transaction() as session:
        ledgers = dict(session.execute(
            select(SatisfactionEntryRecord.client_id, func.count())
            .group_by(SatisfactionEntryRecord.client_id)).all())
    assert ledgers == {client_id: 50 - number for number, client_id in enumerate(clients)}


def test_every_statement_of_a_batch_is_compiled_once_and_reused(either_registry, bus, clock):
    """Every statement a batch runs has a key in SQLAlchemy's cache of compiled statements, so
    it is compiled once and then reused, whatever the batch's size. (The inbox's insert was a
    multi-row ``VALUES`` made for each batch, which has no cache key: it was compiled anew for
    every batch, a tenth of the registry consumer's time.)"""
    ctx = either_registry
    clients = [register(ctx, f"Client {number}").id for number in range(12)]
    handlers = event_handlers(ctx)
    uncached: list[str] = []
    direct: set[str] = set()

    def seen(_conn, _cursor, statement, _params, context, _many):
        if context is None:   # sent straight to the driver (shared.driver_db.rows_in_session)
            direct.add(statement)
        elif context.cache_hit in (CacheStats.NO_CACHE_KEY, CacheStats.CACHING_DISABLED) \
                and statement != "BEGIN IMMEDIATE":   # SQLite's transaction, sent as it is
            uncached.append(statement)

    sa_event.listen(ctx.database.engine, "before_cursor_execute", seen)
    for size in (1, 2, 5, 12, 3):
        events = [Event.from_envelope(bus.opened(client_id, at=clock.now - timedelta(seconds=size)))
                  for client_id in clients[:size]]
        assert all(apply_batch(ctx.database, platform, handlers, events, now=clock.now))
    assert uncached == [], "\n".join(uncached)
    # The statements sent straight to the driver were each compiled once, by its own cache.
    assert direct <= {numbered.sql for numbered in driver_db._numbered_statements.values()}
    assert bool(direct) == (ctx.database.dialect == "postgresql")
