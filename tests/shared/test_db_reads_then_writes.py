"""A unit of work that reads without SQLite's write lock and takes it for its writes
(``shared.db.reads_then_writes`` / ``take_write_lock``), on real SQLite files."""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from shared.db import Database, reads_then_writes, take_write_lock


@pytest.fixture
def database(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'unit.db'}")
    with database.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)")
        connection.exec_driver_sql("INSERT INTO item (name) VALUES ('first')")
    yield database
    database.dispose()


def _other_writer(database: Database) -> sqlite3.Connection:
    """A connection of its own that gives up at once when another holds the write lock."""
    path = database.engine.url.database
    connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    return connection


def _can_write(database: Database) -> bool:
    other = _other_writer(database)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    else:
        other.execute("ROLLBACK")
        return True
    finally:
        other.close()


def test_reads_hold_no_write_lock_and_the_writes_do(database):
    with reads_then_writes(database.engine) as connection:
        assert connection.execute(text("SELECT count(*) FROM item")).scalar_one() == 1
        assert _can_write(database)          # an ordinary transaction would hold the lock here
        take_write_lock(connection)
        assert not _can_write(database)
        connection.execute(text("INSERT INTO item (name) VALUES ('second')"))
    assert _can_write(database)
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM item")).scalar_one() == 2


def test_an_ordinary_transaction_still_locks_at_its_start(database):
    """The pooled connection the unit of work used goes back as it was."""
    with reads_then_writes(database.engine) as connection:
        take_write_lock(connection)
    with database.engine.begin() as connection:
        connection.execute(text("SELECT 1"))
        assert not _can_write(database)


def test_reads_see_what_another_writer_committed_meanwhile(database):
    with reads_then_writes(database.engine) as connection:
        assert connection.execute(text("SELECT count(*) FROM item")).scalar_one() == 1
        other = _other_writer(database)
        other.execute("INSERT INTO item (name) VALUES ('theirs')")
        other.close()
        assert connection.execute(text("SELECT count(*) FROM item")).scalar_one() == 2


def test_taking_the_lock_twice_is_one_transaction(database):
    with reads_then_writes(database.engine) as connection:
        take_write_lock(connection)
        connection.execute(text("INSERT INTO item (name) VALUES ('a')"))
        take_write_lock(connection)
        connection.execute(text("INSERT INTO item (name) VALUES ('b')"))
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM item")).scalar_one() == 3


def test_an_error_after_the_lock_rolls_every_write_back(database):
    with pytest.raises(RuntimeError):
        with reads_then_writes(database.engine) as connection:
            take_write_lock(connection)
            connection.execute(text("INSERT INTO item (name) VALUES ('lost')"))
            raise RuntimeError("the unit of work failed")
    assert _can_write(database)
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM item")).scalars().all() == ["first"]


def test_taking_the_lock_elsewhere_does_nothing(database):
    """On a connection of an ordinary transaction the lock is the transaction's already."""
    with database.engine.begin() as connection:
        take_write_lock(connection)
        connection.execute(text("INSERT INTO item (name) VALUES ('plain')"))
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM item")).scalar_one() == 2
