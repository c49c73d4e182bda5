"""Which failures are outages (a dependency unreachable) and which are the request's or the
event's own fault: the line between a 503 / holding an event and a 4xx-500 / the DLQ."""
from __future__ import annotations

import socket
import sqlite3

import psycopg
import pytest
from amqp.exceptions import MessageNacked, RecoverableConnectionError
from kombu.exceptions import OperationalError as BrokerOperationalError
from sqlalchemy import create_engine, exc, text

from shared.bus.envelope import MalformedEvent
from shared.outages import dependency_unavailable


def wrapped(cls, orig, **kwargs):
    return cls("SELECT 1", {}, orig, **kwargs)


@pytest.mark.parametrize("error", [
    wrapped(exc.OperationalError, psycopg.OperationalError("connection failed: Connection refused")),
    wrapped(exc.OperationalError, psycopg.OperationalError("consuming input failed: server closed "
                                                           "the connection unexpectedly")),
    wrapped(exc.OperationalError, psycopg.errors.AdminShutdown("terminating connection")),
    wrapped(exc.OperationalError, psycopg.errors.CannotConnectNow("the database system is starting up")),
    wrapped(exc.OperationalError, psycopg.errors.TooManyConnections("too many clients")),
    wrapped(exc.OperationalError, psycopg.errors.SerializationFailure("could not serialize")),
    wrapped(exc.OperationalError, psycopg.errors.LockNotAvailable("lock timeout")),
    wrapped(exc.InterfaceError, psycopg.InterfaceError("the connection is closed")),
    wrapped(exc.DBAPIError, Exception("server closed"), connection_invalidated=True),
    wrapped(exc.OperationalError, sqlite3.OperationalError("database is locked")),
    exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"),
    psycopg.OperationalError("connection failed"),
    BrokerOperationalError("[Errno 111] Connection refused"),
    RecoverableConnectionError("connection already closed"),
    ConnectionRefusedError(111, "Connection refused"),
    ConnectionResetError(104, "Connection reset by peer"),
    socket.timeout("timed out"),
], ids=lambda error: type(error).__name__)
def test_connection_level_failures_are_outages(error):
    assert dependency_unavailable(error)


@pytest.mark.parametrize("error", [
    wrapped(exc.IntegrityError, psycopg.errors.UniqueViolation("duplicate key")),
    wrapped(exc.ProgrammingError, psycopg.errors.UndefinedTable("relation does not exist")),
    wrapped(exc.DataError, psycopg.errors.InvalidTextRepresentation("invalid input syntax")),
    wrapped(exc.OperationalError, psycopg.errors.ProgramLimitExceeded("statement too complex")),
    wrapped(exc.OperationalError, sqlite3.OperationalError("no such table: clients")),
    wrapped(exc.IntegrityError, sqlite3.IntegrityError("UNIQUE constraint failed")),
    MessageNacked(),
    ValueError("cannot apply this one"),
    KeyError("client"),
    MalformedEvent("data must be an object"),
    RuntimeError("a bug"),
], ids=lambda error: type(error).__name__)
def test_the_requests_or_events_own_faults_are_not_outages(error):
    assert not dependency_unavailable(error)


def test_an_explicit_cause_counts_and_an_error_raised_while_handling_one_does_not():
    outage = wrapped(exc.OperationalError, psycopg.OperationalError("connection failed"))
    try:
        raise RuntimeError("the revoked tokens cannot be read") from outage
    except RuntimeError as caused:
        assert dependency_unavailable(caused)
    try:
        try:
            raise outage
        except exc.OperationalError:
            raise ValueError("bad data found while recovering")
    except ValueError as during:
        assert during.__context__ is outage
        assert not dependency_unavailable(during)


def test_a_real_refused_database_connection_is_an_outage():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]      # nothing listens once the socket is closed
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/none")
    with pytest.raises(exc.OperationalError) as raised:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    assert dependency_unavailable(raised.value)
    engine.dispose()
