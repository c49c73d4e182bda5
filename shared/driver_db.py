"""Connections of the driver's own for a hot path: kept for reuse (as many as the path's threads
use at once), in autocommit, each statement compiled by SQLAlchemy once and then sent straight
to the driver — psycopg on PostgreSQL (:class:`DriverConnections`), ``sqlite3`` on the embedded
default (:class:`SqliteDriverConnections`).

The busiest request of the suite (the public survey submit) runs two statements, each atomic on
its own. Through SQLAlchemy's ``Connection`` and pool, checking a connection out and in and
executing a compiled statement cost about as much CPU as the rest of the request's Python work;
here a statement is a dictionary lookup and a psycopg ``execute``. :class:`DriverConnection`
offers the small part of SQLAlchemy's ``Connection`` the path's code calls (``execute(…)``
with ``first()``, ``one()``, ``scalar_one()``; ``dialect.name``; ``engine.url``; ``info``),
so that code runs unchanged on either. Driver errors are raised as SQLAlchemy's
(``IntegrityError``, ``OperationalError``…), as the same statement would raise them through
SQLAlchemy; a connection the server dropped is closed, not kept, and the next call opens a new
one.

On SQLite a statement's values go through the bind processors of the engine's own dialect and
its rows through the result processors (dates are stored as text there), so that the stored
values and the rows read are the very ones SQLAlchemy would write and return. Autocommit means
each statement on its own; :meth:`SqliteDriverConnection.write_transaction` holds SQLite's write
lock (``BEGIN IMMEDIATE``) only around the writes that must be atomic together. A caller may
instead have each connection make temporary objects of its own as it opens (``setup``: a view
and a trigger that runs several writes, say), so that such writes are one statement.
"""
from __future__ import annotations

import sqlite3
import threading
import weakref
from collections import namedtuple
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Dialect, Engine, make_url

from shared.db import (CONNECT_TIMEOUT_S, SQLITE_BUSY_TIMEOUT_S, SQLITE_PRAGMAS, normalise_url,
                       psycopg_dsn)

_TUPLES_OK = 2   # psycopg.pq.ExecStatus.TUPLES_OK (a statement's result with rows, maybe none)


class _KeptConnections:
    """Up to ``keep`` idle driver connections kept for the next call (the most recently used
    first); what is driver-specific is how one is opened, wrapped and judged fit for reuse."""

    def __init__(self, url: URL, dialect: Dialect, keep: int) -> None:
        self.url = url
        self.dialect = dialect
        self.keep = keep
        self._idle: list = []
        self._generation = 0   # moved on by dispose: older connections are closed when given back
        self._lock = threading.Lock()
        self._compiled: dict[Any, Any] = {}
        self.opened = 0   # connections opened so far (for tests and metrics)

    @property
    def engine(self) -> "_KeptConnections":
        """Itself: what a ``Connection`` answers to ``.engine`` (its ``url`` and ``dialect``)."""
        return self

    def connect(self):
        """An idle connection, or a new one; given back when the ``with`` block ends."""
        with self._lock:
            raw = self._idle.pop() if self._idle else None
            generation = self._generation
        if raw is None:
            raw = self._open()
            with self._lock:
                self.opened += 1
        return self._wrap(raw, generation)

    def _give_back(self, raw, generation: int) -> None:
        if self._reusable(raw):
            with self._lock:
                if generation == self._generation and len(self._idle) < self.keep:
                    self._idle.append(raw)
                    return
        raw.close()

    def dispose(self) -> None:
        """Close the idle connections (one in use is closed when given back after this)."""
        with self._lock:
            connections, self._idle = self._idle, []
            self._generation += 1
        for raw in connections:
            try:
                raw.close()
            except Exception:  # noqa: BLE001 - closing what may already be gone
                pass

    def _open(self):
        raise NotImplementedError

    def _wrap(self, raw, generation: int):
        raise NotImplementedError

    def _reusable(self, raw) -> bool:
        raise NotImplementedError


class DriverConnections(_KeptConnections):
    """This process's psycopg connections to the PostgreSQL database at ``url``."""

    def __init__(self, url: str | URL, *, keep: int = 8) -> None:
        url = make_url(normalise_url(str(url)) if isinstance(url, str) else url)
        super().__init__(url, _numbering_dialect(), keep)
        self._dsn = psycopg_dsn(self.url)

    def _open(self):
        import psycopg
        return psycopg.connect(self._dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                               cursor_factory=psycopg.RawCursor)

    def _wrap(self, raw, generation: int) -> "DriverConnection":
        return DriverConnection(self, raw, generation)

    def _reusable(self, raw) -> bool:
        return not (raw.closed or raw.broken)

    def sql(self, statement) -> tuple[str, tuple[str, ...]]:
        """``statement`` (a SQLAlchemy statement built once) as the driver's SQL text with
        numbered placeholders (``$1``…), and the names of its parameters in that order. The
        connections' cursors send that text as it is (``psycopg.RawCursor``): psycopg need not
        convert named placeholders on every call, which it does not cache for a statement of
        more than 50 parameters or 4 KB."""
        numbered = _numbered(statement)
        return numbered.sql, numbered.names


class DriverConnection:
    """A driver connection, answering as a SQLAlchemy ``Connection`` would; a ``with`` block
    gives it back at its end."""

    def __init__(self, owner: DriverConnections, raw, generation: int) -> None:
        self._owner = owner
        self._raw = raw
        self._generation = generation
        self.info: dict[str, Any] = {}
        """Free for the caller's code, as a ``Connection``'s or a ``Session``'s ``info``."""

    @property
    def engine(self) -> DriverConnections:
        return self._owner

    @property
    def dialect(self) -> Dialect:
        return self._owner.dialect

    @property
    def broken(self) -> bool:
        """The connection was closed or lost (it will not be kept)."""
        return bool(self._raw.closed or self._raw.broken)

    def execute(self, statement, parameters: Mapping[str, Any] | None = None) -> "DriverResult":
        import psycopg
        sql, names = self._owner.sql(statement)
        values = [parameters[name] for name in names] if names else None
        try:
            return DriverResult(self._raw.execute(sql, values))
        except psycopg.Error as error:
            raise sa_exc.DBAPIError.instance(sql, parameters, error, psycopg.Error) from error

    def __enter__(self) -> "DriverConnection":
        return self

    def __exit__(self, *_exc) -> None:
        self._owner._give_back(self._raw, self._generation)


class DriverResult:
    """The part of SQLAlchemy's ``Result`` the hot path reads."""

    def __init__(self, cursor) -> None:
        self._cursor = cursor

    @staticmethod
    def _row(raw):
        return raw

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def _has_rows(self) -> bool:
        """The statement returned rows (as ``description is not None`` says, without building
        a description object for each column first)."""
        result = self._cursor.pgresult
        return result is not None and result.status == _TUPLES_OK

    def first(self):
        return self._row(self._cursor.fetchone()) if self._has_rows() else None

    def one(self):
        rows = self._cursor.fetchmany(2) if self._has_rows() else []
        if len(rows) != 1:
            raise sa_exc.NoResultFound("No row was found") if not rows else \
                sa_exc.MultipleResultsFound("Multiple rows were found")
        return self._row(rows[0])

    def scalar_one(self):
        return self.one()[0]

    def scalars(self) -> list:
        """The first column of every row."""
        return [self._row(row)[0] for row in self._cursor.fetchall()] if self._has_rows() else []


class SqliteDriverConnections(_KeptConnections):
    """This process's ``sqlite3`` connections to the database of ``engine`` (a SQLite engine
    made by ``shared.db.make_engine``: the same file, busy timeout and pragmas, its dialect's
    SQL and value processing)."""

    def __init__(self, engine: Engine, *, keep: int = 8, setup: Sequence[str] = ()) -> None:
        super().__init__(engine.url, engine.dialect, keep)
        self._path = engine.url.database or ":memory:"
        #: Statements run on each connection as it opens, after the pragmas: the caller's own
        #: temporary objects (``CREATE TEMP VIEW``, ``CREATE TEMP TRIGGER``…), which live as
        #: long as the connection and are seen by it alone.
        self.setup = tuple(setup)

    def _open(self) -> sqlite3.Connection:
        raw = sqlite3.connect(self._path, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None,
                              check_same_thread=False)
        try:
            for statement in (*SQLITE_PRAGMAS, *self.setup):
                raw.execute(statement)
        except BaseException:
            raw.close()
            raise
        return raw

    def _wrap(self, raw, generation: int) -> "SqliteDriverConnection":
        return SqliteDriverConnection(self, raw, generation)

    def _reusable(self, raw) -> bool:
        return not raw.in_transaction   # one a failed rollback left in a transaction is closed

    def statement(self, statement, parameters: Mapping[str, Any]) -> "_SqliteStatement":
        """``statement`` compiled for these parameters' names (an ``INSERT`` without values
        takes its columns from them), once."""
        key = (statement, tuple(parameters))
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = _SqliteStatement(statement, parameters, self.dialect)
        return found


_alone: "weakref.WeakKeyDictionary[Any, SqliteDriverConnections]" = weakref.WeakKeyDictionary()
_alone_lock = threading.Lock()


def sqlite_alone(database) -> SqliteDriverConnections:
    """Connections to ``database`` (a ``shared.db.Database`` on SQLite) for writes that are one
    statement each, in autocommit: SQLite's write lock is then taken as the statement starts
    and given back as it ends, inside one call that gives up the interpreter lock — never held
    from a ``BEGIN IMMEDIATE`` to a ``COMMIT`` while the writing thread waits for the
    interpreter between statements (in a busy process, or one running at a lower priority,
    for milliseconds, while every other writer of the file waits). Made on first use, kept for
    the database's life (up to two idle), closed when it is disposed."""
    with _alone_lock:
        found = _alone.get(database)
        if found is None:
            found = _alone[database] = SqliteDriverConnections(database.engine, keep=2)
            database.on_dispose(found.dispose)
    return found


class _SqliteStatement:
    """A statement as ``sqlite3`` takes it: its SQL with ``?`` places, where each place's value
    comes from (a parameter, or a value bound in the statement itself) and how it is converted,
    and the converters of the columns it returns."""

    def __init__(self, statement, parameters: Mapping[str, Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(parameters))
        self.sql = compiled.string
        bound = compiled.construct_params(_check=False)
        processors = compiled._bind_processors
        self.places = [(name, processors.get(name), bound.get(name))
                       for name in compiled.positiontup or ()]
        self.results = [column[3].dialect_impl(dialect).result_processor(dialect, None)
                        for column in compiled._result_columns]
        self._converts = any(self.results)
        self._rows_sql: dict[int, str] = {}
        missing = {name for name, _p, value in self.places
                   if name not in parameters and value is None}
        if missing:
            raise ValueError(f"no value for {sorted(missing)} in {self.sql!r}")

    def arguments(self, parameters: Mapping[str, Any]) -> tuple:
        values = []
        for name, process, bound in self.places:
            value = parameters.get(name, bound)
            values.append(value if process is None or value is None else process(value))
        return tuple(values)

    def rows_sql(self, count: int) -> str:
        """This statement, an ``INSERT … VALUES`` of one row, with ``count`` rows of values."""
        found = self._rows_sql.get(count)
        if found is None:
            head, values = self.sql.rsplit(" VALUES ", 1)
            found = self._rows_sql[count] = f"{head} VALUES " + ", ".join([values] * count)
        return found

    def row(self, raw: tuple | None) -> tuple | None:
        if raw is None or not self._converts:
            return raw
        return tuple(value if process is None or value is None else process(value)
                     for process, value in zip(self.results, raw))


class SqliteDriverConnection(DriverConnection):
    """A ``sqlite3`` connection in autocommit, answering as a SQLAlchemy ``Connection`` would;
    a ``with`` block gives it back at its end."""

    def execute(self, statement, parameters: Mapping[str, Any] | None = None) -> "SqliteResult":
        parameters = parameters or {}
        compiled = self._owner.statement(statement, parameters)
        return SqliteResult(self._run(compiled.sql, compiled.arguments(parameters)), compiled)

    def insert_rows(self, statement, rows: Sequence[Mapping[str, Any]]) -> None:
        """``statement`` — an ``INSERT … VALUES`` of one row, its values named as in each of
        ``rows`` — for every row of ``rows`` as **one** statement: in autocommit one write
        transaction, SQLite's write lock taken once. A row the statement refuses (a constraint)
        leaves none of them written."""
        compiled = self._owner.statement(statement, rows[0])
        self._run(compiled.rows_sql(len(rows)),
                  tuple(value for row in rows for value in compiled.arguments(row)))

    @property
    def total_changes(self) -> int:
        """Rows inserted, changed or deleted on this connection since it opened, by statements
        and the triggers they ran (``sqlite3_total_changes``)."""
        return self._raw.total_changes

    @contextmanager
    def write_transaction(self) -> Iterator["SqliteDriverConnection"]:
        """The statements of the block in one transaction holding SQLite's write lock from its
        start (``BEGIN IMMEDIATE``, waiting for it as long as the busy timeout allows);
        committed when the block ends, rolled back if it raises."""
        self._run("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self._raw.rollback()
            raise
        try:
            self._run("COMMIT")
        except BaseException:
            self._raw.rollback()
            raise

    def _run(self, sql: str, arguments: tuple = ()) -> sqlite3.Cursor:
        """``sql`` on the connection; a driver error raised as SQLAlchemy's."""
        try:
            return self._raw.execute(sql, arguments)
        except sqlite3.Error as error:
            raise sa_exc.DBAPIError.instance(sql, arguments, error, sqlite3.Error) from error


class SqliteResult(DriverResult):
    """The part of SQLAlchemy's ``Result`` the hot path reads, each row through the statement's
    result processors."""

    def __init__(self, cursor: sqlite3.Cursor, statement: _SqliteStatement) -> None:
        super().__init__(cursor)
        self._row = statement.row

    def _has_rows(self) -> bool:
        return True   # a statement without rows fetches none


# -- statements with numbered placeholders, and one in a Session's transaction ------------------

class _Numbered(NamedTuple):
    sql: str                      # the statement's SQL with $1, $2… placeholders
    names: tuple[str, ...]        # its parameters' names, in the placeholders' order
    defaults: dict[str, Any]      # the values of those it binds itself (a LIMIT, a literal)
    row: Any                      # a named-tuple type for its rows when it selects named columns
    converted: tuple[str, ...]    # the parameters whose values SQLAlchemy would convert


#: Every statement compiled by :func:`_numbered`, for the process's life (they are built once).
_numbered_statements: dict[Any, _Numbered] = {}


@lru_cache(maxsize=1)
def _numbering_dialect() -> Dialect:
    from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
    return psycopg_dialect(paramstyle="numeric_dollar")


def _numbered(statement) -> _Numbered:
    """``statement`` compiled once for psycopg with numbered placeholders (shared by
    :class:`DriverConnections` and :func:`rows_in_session`)."""
    found = _numbered_statements.get(statement)
    if found is None:
        compiled = statement.compile(dialect=_numbering_dialect())
        names = tuple(compiled.positiontup or ())
        columns = getattr(statement, "selected_columns", None)
        found = _numbered_statements[statement] = _Numbered(
            compiled.string, names,
            {name: compiled.binds[name].value for name in names
             if not compiled.binds[name].required},
            namedtuple("Row", list(columns.keys()), rename=True) if columns is not None else None,
            tuple(sorted(compiled._bind_processors)))
    return found


def rows_in_session(session, statement, parameters: Mapping[str, Any]) -> list:
    """PostgreSQL: run ``statement`` (built once, e.g. with ``lru_cache``) on ``session``'s own
    connection, in its transaction, sent straight to psycopg with numbered placeholders; its
    rows (named tuples for a ``SELECT`` of named columns, else tuples; none for a statement
    that returns none).

    What SQLAlchemy's execution of a compiled statement adds to every call — the compiled
    cache's key and lookup, the parameters' processing, the result's metadata built from the
    cursor's description — and psycopg's conversion of named placeholders (not cached for a
    statement of more than 50 parameters or 4 KB) are skipped. A statement whose values
    SQLAlchemy would convert is refused; its rows are psycopg's own values,
    so it is for statements whose columns SQLAlchemy returns unchanged on PostgreSQL (text,
    numbers, times, arrays — not an Enum class or a type of the caller's own). The engine's
    ``before_cursor_execute`` and ``after_cursor_execute`` listeners still see the statement.
    A driver error is raised as SQLAlchemy's, the connection invalidated if it was lost."""
    import psycopg
    sql, names, defaults, row, converted = _numbered(statement)
    if converted:
        raise TypeError("a statement whose values SQLAlchemy converts cannot be sent straight "
                        f"to the driver: {list(converted)}")
    values = [parameters[name] if name in parameters else defaults[name] for name in names]
    connection = session.connection()
    raw = connection.connection.driver_connection
    cursor = psycopg.RawCursor(raw)
    connection.dispatch.before_cursor_execute(connection, cursor, sql, values, None, False)
    try:
        cursor.execute(sql, values)
        result = cursor.pgresult
        rows = cursor.fetchall() if result is not None and result.status == _TUPLES_OK else []
    except psycopg.Error as error:
        lost = connection.dialect.is_disconnect(error, raw, cursor)
        if lost:
            connection.invalidate(error)
        raise sa_exc.DBAPIError.instance(sql, values, error, psycopg.Error,
                                         connection_invalidated=lost,
                                         dialect=connection.dialect) from error
    finally:
        cursor.close()
    connection.dispatch.after_cursor_execute(connection, cursor, sql, values, None, False)
    return [row._make(fields) for fields in rows] if row is not None else rows
