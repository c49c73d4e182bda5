"""Which failures mean "a dependency is unreachable", as opposed to "this request or event is wrong".

A database or broker outage is nobody's fault and passes by itself: web requests answer 503 with
``Retry-After`` (``shared.web.problems``) and consumers hold the event and try again until the
dependency is back (``shared.bus.consumer``). Every other failure (a constraint, a programming
error, bad data, a bug) keeps its own path: a 4xx or 500 answer, the retries and then the DLQ.

Counted as an outage:

* SQLAlchemy errors from a connection that was lost (``connection_invalidated``), interface
  errors (a closed connection), a pool that could not hand out a connection in time;
* driver operational errors about the connection or the server's state: PostgreSQL SQLSTATE
  classes 08 (connection), 40 (serialization failure, deadlock), 53 (insufficient resources),
  57 (shutdown, cancelled, not accepting connections), 58 (system error), a lock wait that
  timed out (55P03), and client-side failures with no SQLSTATE (refused, reset, closed);
  SQLite's "database is locked" and "unable to open database file";
* broker connection errors (Kombu's ``OperationalError``, py-amqp's connection errors) and the
  operating system's ``ConnectionError`` family (refused, reset, aborted, broken pipe) and
  socket timeouts.

Followed through explicit causes (``raise … from``), never through the implicit context, so an
error raised *while handling* an outage keeps its own nature.
"""
from __future__ import annotations

from sqlalchemy import exc as sa

#: Seconds a client is told to wait before trying again during an outage.
RETRY_AFTER_S = 5

_POSTGRES_OUTAGE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_POSTGRES_OUTAGE_STATES = frozenset({"55P03"})
_SQLITE_OUTAGE_MESSAGES = ("database is locked", "database table is locked",
                           "unable to open database file", "disk i/o error")


def dependency_unavailable(error: BaseException) -> bool:
    """True when ``error`` (or an explicit cause of it) says a dependency is unreachable."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        verdict = _verdict(current)
        if verdict is not None:
            return verdict
        current = current.__cause__
    return False


def _verdict(error: BaseException) -> bool | None:
    """True or False when ``error`` settles it; None to look at its cause."""
    if isinstance(error, sa.DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error, (sa.IntegrityError, sa.ProgrammingError, sa.DataError,
                              sa.NotSupportedError)):
            return False
        if isinstance(error, sa.InterfaceError):
            return True
        if isinstance(error, sa.OperationalError):
            return _driver_outage(error.orig)
        return False
    if isinstance(error, (sa.TimeoutError, sa.DisconnectionError)):
        return True  # no pooled connection in time; a connection found dead
    driver = _driver_outage(error)
    if driver is not None:
        return driver
    if _broker_connection_error(error):
        return True
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    return None


def _driver_outage(error: BaseException | None) -> bool | None:
    """The verdict on a DB-API driver's own exception (psycopg, sqlite3), or None."""
    if error is None:
        return None
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        psycopg = None
    if psycopg is not None and isinstance(error, psycopg.Error):
        if isinstance(error, psycopg.InterfaceError):
            return True
        if not isinstance(error, psycopg.OperationalError):
            return False
        state = getattr(error, "sqlstate", None)
        if not state:
            return True  # refused, reset, closed: the client lost the server
        return state[:2] in _POSTGRES_OUTAGE_CLASSES or state in _POSTGRES_OUTAGE_STATES
    import sqlite3
    if isinstance(error, sqlite3.Error):
        if not isinstance(error, sqlite3.OperationalError):
            return False
        return any(text in str(error).lower() for text in _SQLITE_OUTAGE_MESSAGES)
    return None


def _broker_connection_error(error: BaseException) -> bool:
    try:
        from amqp import exceptions as amqp_errors
        from kombu import exceptions as kombu_errors
    except ImportError:  # pragma: no cover - both are dependencies
        return False
    return isinstance(error, (kombu_errors.OperationalError,
                              amqp_errors.RecoverableConnectionError,
                              amqp_errors.ConnectionError))
