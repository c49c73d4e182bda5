"""Driver connections for a hot path (``shared.driver_db``) on the embedded default's SQLite: the
values stored and the rows read are SQLAlchemy's own for the same statements, errors are
SQLAlchemy's, a write transaction is all or nothing, connections are reused."""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import (JSON, Column, Integer, MetaData, Numeric, String, Table, bindparam, exc,
                        insert, select, text)

from shared.db import UTCDateTime, make_engine
from shared.driver_db import SqliteDriverConnections

METADATA = MetaData()
ITEM = Table("item", METADATA, Column("id", Integer, primary_key=True),
             Column("name", String(20), nullable=False), Column("at", UTCDateTime()),
             Column("score", Numeric(5, 2)), Column("data", JSON))
ADD = insert(ITEM)
BY_ID = select(ITEM.c.name, ITEM.c.at, ITEM.c.score, ITEM.c.data).where(ITEM.c.id == bindparam("id"))
RENAME = text("UPDATE item SET name = :name WHERE id = :id AND name != :name")
COUNTER = text("INSERT INTO item (id, name) VALUES (:id, 'n') ON CONFLICT (id) DO UPDATE "
               "SET score = coalesce(item.score, 0) + 1 RETURNING score")
AT = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone(timedelta(hours=8)))
ROW = {"id": 1, "name": "一", "at": AT, "score": Decimal("7.25"), "data": {"评论": "好", "n": [1, 2]}}


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    METADATA.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def drivers(engine):
    drivers = SqliteDriverConnections(engine, keep=2)
    yield drivers
    drivers.dispose()


def stored(engine, item_id: int) -> tuple:
    with engine.connect() as connection:
        return tuple(connection.execute(BY_ID, {"id": item_id}).one())


def test_stored_values_and_rows_read_are_sqlalchemys(engine, drivers):
    with engine.begin() as connection:
        connection.execute(ADD, {**ROW, "id": 2})
    with drivers.connect() as connection:
        assert connection.dialect.name == "sqlite" and connection.engine.url == engine.url
        connection.execute(ADD, ROW)
        read = connection.execute(BY_ID, {"id": 1}).first()
        assert read == stored(engine, 2)                # a row written by SQLAlchemy, read here
        assert connection.execute(BY_ID, {"id": 2}).one() == read
        assert connection.execute(BY_ID, {"id": 3}).first() is None
        with pytest.raises(exc.NoResultFound):
            connection.execute(BY_ID, {"id": 3}).one()
    assert stored(engine, 1) == stored(engine, 2)       # a row written here, read by SQLAlchemy
    raw = sqlite3.connect(engine.url.database)
    try:   # byte for byte the same stored text (dates and JSON are text in SQLite)
        rows = raw.execute("SELECT name, at, score, data FROM item ORDER BY id").fetchall()
    finally:
        raw.close()
    assert rows[0] == rows[1] and json.loads(rows[0][3]) == ROW["data"]
    assert isinstance(read[1], datetime) and read[2] == Decimal("7.25")   # not the stored text


def test_rowcount_returning_and_values_bound_in_the_statement(drivers):
    with drivers.connect() as connection:
        connection.execute(ADD, ROW)
        assert connection.execute(RENAME, {"id": 1, "name": "二"}).rowcount == 1
        assert connection.execute(RENAME, {"id": 1, "name": "二"}).rowcount == 0
        assert connection.execute(COUNTER, {"id": 5}).first() == (None,)
        assert connection.execute(COUNTER, {"id": 5}).scalar_one() == 1


def test_driver_errors_are_sqlalchemys(drivers):
    with drivers.connect() as connection:
        connection.execute(ADD, ROW)
        with pytest.raises(exc.IntegrityError) as raised:
            connection.execute(ADD, ROW)
        assert isinstance(raised.value.orig, sqlite3.IntegrityError)
        # autocommit: the failed statement left nothing open, the connection goes on
        assert connection.execute(BY_ID, {"id": 1}).first()[0] == "一"
        with pytest.raises(ValueError, match="no value"):
            connection.execute(ADD.values(name=bindparam("missing")), {"id": 9})


def test_a_write_transaction_commits_all_or_nothing(engine, drivers):
    with drivers.connect() as connection:
        with connection.write_transaction():
            connection.execute(ADD, ROW)
            connection.execute(ADD, {**ROW, "id": 2})
        with pytest.raises(exc.IntegrityError):
            with connection.write_transaction():
                connection.execute(ADD, {**ROW, "id": 3})
                connection.execute(ADD, ROW)             # fails: 3 is not kept either
        with pytest.raises(RuntimeError):
            with connection.write_transaction():
                connection.execute(ADD, {**ROW, "id": 4})
                raise RuntimeError("the caller's own failure")
    with engine.connect() as check:
        assert check.execute(text("SELECT id FROM item ORDER BY id")).scalars().all() == [1, 2]


def test_a_write_transaction_holds_the_write_lock_from_its_start(engine, drivers):
    """``BEGIN IMMEDIATE``: another writer waits until the commit, a reader does not."""
    entered, release = threading.Event(), threading.Event()
    order: list[str] = []

    def hold() -> None:
        with drivers.connect() as connection, connection.write_transaction():
            entered.set()
            release.wait(5)
            connection.execute(ADD, ROW)
            order.append("first committed")

    holder = threading.Thread(target=hold)
    holder.start()
    assert entered.wait(5)
    reader = sqlite3.connect(engine.url.database, timeout=0)   # WAL: a plain read goes on
    try:
        assert reader.execute("SELECT count(*) FROM item").fetchone() == (0,)
    finally:
        reader.close()
    waiter = threading.Thread(target=lambda: (_second_write(drivers), order.append("second")))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and order == []
    release.set()
    holder.join(5)
    waiter.join(5)
    assert order == ["first committed", "second"]


def _second_write(drivers) -> None:
    with drivers.connect() as connection, connection.write_transaction():
        connection.execute(ADD, {**ROW, "id": 2})


def test_connections_are_reused_at_most_keep_idle_and_none_after_dispose(drivers):
    with drivers.connect() as connection:
        first = connection._raw
    with drivers.connect() as connection:
        assert connection._raw is first
    assert drivers.opened == 1
    held = [drivers.connect() for _ in range(3)]
    for connection in held:
        connection.__exit__(None, None, None)
    assert len(drivers._idle) == 2                    # keep=2: the third was closed
    drivers.dispose()
    assert drivers._idle == []
    with drivers.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1


def test_each_connection_runs_the_setup_statements_and_counts_its_changes(engine):
    """Temporary objects of the caller's own, made on every connection as it opens and seen by
    that connection alone; ``total_changes`` counts what its statements and their triggers
    changed."""
    drivers = SqliteDriverConnections(engine, keep=1, setup=(
        "CREATE TEMP VIEW counted (n) AS SELECT NULL",
        "CREATE TEMP TRIGGER counted_add INSTEAD OF INSERT ON counted BEGIN "
        "INSERT INTO item (id, name) SELECT NEW.n, 'n' WHERE NEW.n > 0; END"))
    try:
        with drivers.connect() as first, drivers.connect() as second:
            for connection in (first, second):   # each has its own, made as it opened
                before = connection.total_changes
                connection.execute(text("INSERT INTO counted (n) VALUES (0)"))
                assert connection.total_changes == before   # the trigger changed nothing
            first.execute(text("INSERT INTO counted (n) VALUES (7)"))
            assert first.total_changes == 1 and second.total_changes == 0
        with engine.connect() as other:                      # not a connection of these
            assert other.execute(text("SELECT count(*) FROM sqlite_temp_master")).scalar_one() == 0
        assert stored(engine, 7)[0] == "n"
    finally:
        drivers.dispose()
