"""Pooled PostgreSQL connections are checked before use only after being idle
(``shared.db.PING_AFTER_IDLE_S``): none is pinged under steady use, and one the server dropped
while it was idle is replaced before a request sees it."""
from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import text

from shared import db as db_module
from shared.db import make_engine

pytestmark = pytest.mark.postgres

#: Long enough that a loaded machine never takes it between two uses in a row.
IDLE_S = 1.0


@pytest.fixture
def engine(postgres_url, monkeypatch):
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", IDLE_S)
    engine = make_engine(postgres_url, pool_size=2, max_overflow=0)
    pings = []
    original = engine.dialect.do_ping

    def counting_ping(dbapi_connection):
        pings.append(dbapi_connection)
        return original(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting_ping)
    engine.pings = pings
    yield engine
    engine.dispose()


def _backend(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_in_steady_use_is_not_pinged(engine):
    first = _backend(engine)
    for _ in range(50):
        assert _backend(engine) == first     # the same (last returned) connection each time
    assert engine.pings == []


def test_a_connection_idle_past_the_limit_is_pinged_once_then_used(engine):
    first = _backend(engine)
    time.sleep(IDLE_S * 1.3)
    assert _backend(engine) == first
    assert len(engine.pings) == 1
    assert _backend(engine) == first
    assert len(engine.pings) == 1


def test_a_connection_dropped_while_idle_is_replaced_before_use(engine, postgres_url):
    first = _backend(engine)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (first,)).fetchone()[0]
    time.sleep(IDLE_S * 1.3)
    # no error reaches the caller: the ping found it gone and a new connection answers
    second = _backend(engine)
    assert second != first
    assert len(engine.pings) == 1
