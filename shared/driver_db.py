"""PostgreSQL connections of the driver's own for a hot path: kept for reuse (as many as the
path's threads use at once), in autocommit, each statement compiled by SQLAlchemy once and then
sent straight to psycopg.

The busiest request of the suite (the public survey submit) runs two statements, each atomic on
its own. Through SQLAlchemy's ``Connection`` and pool, checking a connection out and in and
executing a compiled statement cost about as much CPU as the rest of the request's Python work;
here a statement is a dictionary lookup and a psycopg ``execute``. :class:`DriverConnection`
offers the small part of SQLAlchemy's ``Connection`` the path's code calls (``execute(…)``
with ``first()``, ``one()``, ``scalar_one()``; ``dialect.name``; ``engine.url``), so that code
runs unchanged on either. Driver errors are raised as SQLAlchemy's (``IntegrityError``,
``OperationalError``…), as the same statement would raise them through SQLAlchemy; a connection
the server dropped is closed, not kept, and the next call opens a new one.
"""
from __future__ import annotations

import threading
from typing import Any, Mapping

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Dialect, make_url

from shared.db import CONNECT_TIMEOUT_S, normalise_url, psycopg_dsn

_TUPLES_OK = 2   # psycopg.pq.ExecStatus.TUPLES_OK (a statement's result with rows, maybe none)


class DriverConnections:
    """This process's driver connections to the database at ``url``: up to ``keep`` idle ones
    are kept for the next call (the most recently used first)."""

    def __init__(self, url: str | URL, *, keep: int = 8) -> None:
        from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
        self.url = make_url(normalise_url(str(url)) if isinstance(url, str) else url)
        self.dialect: Dialect = psycopg_dialect()
        self._dsn = psycopg_dsn(self.url)
        self.keep = keep
        self._idle: list = []
        self._generation = 0   # moved on by dispose: older connections are closed when given back
        self._lock = threading.Lock()
        self._compiled: dict[Any, str] = {}
        self.opened = 0   # connections opened so far (for tests and metrics)

    @property
    def engine(self) -> "DriverConnections":
        """Itself: what a ``Connection`` answers to ``.engine`` (its ``url`` and ``dialect``)."""
        return self

    def connect(self) -> "DriverConnection":
        """An idle connection, or a new one; given back when the ``with`` block ends."""
        with self._lock:
            raw = self._idle.pop() if self._idle else None
            generation = self._generation
        if raw is None:
            import psycopg
            raw = psycopg.connect(self._dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
            with self._lock:
                self.opened += 1
        return DriverConnection(self, raw, generation)

    def _give_back(self, raw, generation: int) -> None:
        if not (raw.closed or raw.broken):
            with self._lock:
                if generation == self._generation and len(self._idle) < self.keep:
                    self._idle.append(raw)
                    return
        raw.close()

    def sql(self, statement) -> str:
        """``statement`` (a SQLAlchemy statement built once) as the driver's SQL text."""
        found = self._compiled.get(statement)
        if found is None:
            found = self._compiled[statement] = str(statement.compile(dialect=self.dialect))
        return found

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


class DriverConnection:
    """A driver connection, answering as a SQLAlchemy ``Connection`` would; a ``with`` block
    gives it back at its end."""

    def __init__(self, owner: DriverConnections, raw, generation: int) -> None:
        self._owner = owner
        self._raw = raw
        self._generation = generation

    @property
    def engine(self) -> DriverConnections:
        return self._owner

    @property
    def dialect(self) -> Dialect:
        return self._owner.dialect

    def execute(self, statement, parameters: Mapping[str, Any] | None = None) -> "DriverResult":
        import psycopg
        sql = self._owner.sql(statement)
        try:
            return DriverResult(self._raw.execute(sql, parameters))
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

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def _has_rows(self) -> bool:
        """The statement returned rows (as ``description is not None`` says, without building
        a description object for each column first)."""
        result = self._cursor.pgresult
        return result is not None and result.status == _TUPLES_OK

    def first(self):
        return self._cursor.fetchone() if self._has_rows() else None

    def one(self):
        rows = self._cursor.fetchmany(2) if self._has_rows() else []
        if len(rows) != 1:
            raise sa_exc.NoResultFound("No row was found") if not rows else \
                sa_exc.MultipleResultsFound("Multiple rows were found")
        return rows[0]

    def scalar_one(self):
        return self.one()[0]
