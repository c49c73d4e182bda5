"""Driver connections for a hot path (``shared.driver_db``) on PostgreSQL: the answers and errors
of SQLAlchemy's ``Connection`` for the same statements, connections reused, a dropped one
replaced."""
from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import bindparam, column, exc, select, table, text
from sqlalchemy.event import listen

from shared.db import make_engine
from shared.driver_db import DriverConnections, rows_in_session

pytestmark = pytest.mark.postgres

ITEM = table("item", column("id"), column("name"))
BY_ID = select(ITEM.c.name).where(ITEM.c.id == bindparam("id"))
ADD = text("INSERT INTO item (id, name) VALUES (:id, :name) RETURNING id")
RENAME = text("UPDATE item SET name = :name WHERE id = :id")
PERCENT = text("SELECT name || '%' FROM item WHERE id = :id")


@pytest.fixture
def drivers(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE item (id integer PRIMARY KEY, name text NOT NULL)")
    drivers = DriverConnections(postgres_url, keep=2)
    yield drivers
    drivers.dispose()


def test_statements_answer_as_through_sqlalchemy(drivers, postgres_url):
    with drivers.connect() as connection:
        assert connection.dialect.name == "postgresql"
        assert connection.execute(ADD, {"id": 1, "name": "one"}).scalar_one() == 1
        assert connection.execute(BY_ID, {"id": 1}).first() == ("one",)
        assert connection.execute(BY_ID, {"id": 2}).first() is None
        assert connection.execute(PERCENT, {"id": 1}).one() == ("one%",)
        with pytest.raises(exc.NoResultFound):
            connection.execute(BY_ID, {"id": 2}).one()
        renamed = connection.execute(RENAME, {"id": 1, "name": "uno"})   # returns no rows
        assert renamed.rowcount == 1 and renamed.first() is None
        with pytest.raises(exc.NoResultFound):
            connection.execute(RENAME, {"id": 1, "name": "one"}).one()
        assert connection.execute(text("SELECT")).one() == ()   # a row of no columns
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(BY_ID, {"id": 1}).first() == ("one",)
    finally:
        engine.dispose()


def test_a_long_statement_is_sent_with_numbered_placeholders_converted_once(drivers,
                                                                           monkeypatch):
    """Over 50 parameters (psycopg would convert its named placeholders on every call, as it
    keeps no such statement): numbered once by the compile, a name used twice is one number,
    and the text goes to the server as it is."""
    import psycopg._queries as queries
    names = [f"p{number}" for number in range(60)]
    long = text("SELECT " + " + ".join(f"CAST(:{name} AS integer)" for name in names)
                + " + CAST(:p0 AS integer), '%' || CAST(:p1 AS text)")
    sql, order = drivers.sql(long)
    assert "$1" in sql and "$61" not in sql and ":p" not in sql
    assert list(order) == names
    converted: list[bytes] = []
    monkeypatch.setattr(queries, "_query2pg_nocache",
                        lambda query, *rest: converted.append(query))   # never called
    with drivers.connect() as connection:
        for base in (0, 1):
            values = {name: number + base for number, name in enumerate(names)}
            total = sum(values.values()) + values["p0"]
            assert connection.execute(long, values).one() == (total, f"%{values['p1']}")
    assert converted == []


def test_driver_errors_are_sqlalchemys(drivers):
    with drivers.connect() as connection:
        connection.execute(ADD, {"id": 1, "name": "one"})
        with pytest.raises(exc.IntegrityError) as raised:
            connection.execute(ADD, {"id": 1, "name": "again"})
        assert isinstance(raised.value.orig, psycopg.errors.UniqueViolation)
        # autocommit: the failed statement left nothing open, the connection goes on
        assert connection.execute(BY_ID, {"id": 1}).first() == ("one",)


def test_connections_are_reused_and_a_dropped_one_is_replaced(drivers, postgres_url):
    with drivers.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with drivers.connect() as connection:
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
    assert drivers.opened == 1
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with drivers.connect() as connection:
        with pytest.raises(exc.OperationalError):
            connection.execute(BY_ID, {"id": 1})
    with drivers.connect() as connection:   # the dropped one was not kept
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    assert drivers.opened == 2


def test_at_most_keep_idle_connections_and_none_after_dispose(drivers):
    held = [drivers.connect() for _ in range(3)]
    raws = [connection._raw for connection in held]
    for connection in held:
        connection.__exit__(None, None, None)
    assert sum(not raw.closed for raw in raws) == 2   # keep=2: the third was closed
    in_use = drivers.connect()
    drivers.dispose()
    assert sum(not raw.closed for raw in raws if raw is not in_use._raw) == 0
    in_use.__exit__(None, None, None)   # given back after dispose: closed, not kept
    assert in_use._raw.closed
    with drivers.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1


# -- rows_in_session: a statement in a Session's transaction, straight to psycopg --------------

NAMES = select(ITEM.c.id, ITEM.c.name).where(ITEM.c.id >= bindparam("low")).order_by(
    ITEM.c.id).limit(2)
REMOVE = text("DELETE FROM item WHERE id = :id")


@pytest.fixture
def sessions(postgres_url):
    from sqlalchemy.orm import Session
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE item (id integer PRIMARY KEY, name text NOT NULL)")
    engine = make_engine(postgres_url)
    yield engine, lambda: Session(engine)
    engine.dispose()


def test_a_statement_runs_in_the_sessions_transaction(sessions):
    engine, session_factory = sessions
    with session_factory() as session, session.begin():
        session.execute(ADD, {"id": 1, "name": "one"})     # through SQLAlchemy, not committed
        assert rows_in_session(session, ADD, {"id": 2, "name": "two"}) == [(2,)]
        assert rows_in_session(session, ADD, {"id": 3, "name": "three"}) == [(3,)]
        rows = rows_in_session(session, NAMES, {"low": 1})   # its own LIMIT 2 bound
        assert [(row.id, row.name) for row in rows] == [(1, "one"), (2, "two")]
        assert rows_in_session(session, REMOVE, {"id": 3}) == []
        assert session.execute(select(ITEM.c.id).order_by(ITEM.c.id)).scalars().all() == [1, 2]
        session.rollback()
    with engine.connect() as connection:   # rolled back with the session's transaction
        assert connection.execute(select(ITEM.c.id)).all() == []


def test_listeners_see_the_statement_and_errors_are_sqlalchemys(sessions):
    engine, session_factory = sessions
    seen = []
    listen(engine, "before_cursor_execute",
           lambda _conn, _cursor, statement, parameters, _context, _many:
           seen.append(("before", statement, parameters)))
    listen(engine, "after_cursor_execute",
           lambda _conn, _cursor, statement, _parameters, _context, _many:
           seen.append(("after", statement)))
    with session_factory() as session, session.begin():
        rows_in_session(session, ADD, {"id": 1, "name": "one"})
        assert seen[-2] == ("before", "INSERT INTO item (id, name) VALUES ($1, $2) RETURNING id",
                            [1, "one"])
        assert seen[-1] == ("after", "INSERT INTO item (id, name) VALUES ($1, $2) RETURNING id")
        with pytest.raises(exc.IntegrityError):
            rows_in_session(session, ADD, {"id": 1, "name": "again"})


def test_a_lost_connection_is_invalidated_and_a_converted_value_refused(sessions, postgres_url):
    from sqlalchemy import JSON
    engine, session_factory = sessions
    with session_factory() as session:
        session.begin()
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(exc.OperationalError) as lost:
            rows_in_session(session, NAMES, {"low": 1})
        assert lost.value.connection_invalidated
    with session_factory() as session, session.begin():   # the pool gives a working one
        assert rows_in_session(session, NAMES, {"low": 1}) == []
        with pytest.raises(TypeError):   # SQLAlchemy would serialise the JSON value itself
            rows_in_session(session, select(bindparam("doc", type_=JSON)), {"doc": {"a": 1}})
