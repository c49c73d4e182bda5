"""SQLAlchemy 2 plumbing shared by every service: engines, sessions, platform tables.

Each service owns its database. Besides its own tables, every service database holds the
platform tables defined here: the transactional ``outbox``, the consumer ``inbox``, the per
subject ``event_sequence`` counters, the ``idempotency_key`` store and ``api_token``, the tokens
the command line issued and revoked (each service reads its own copy of the revocations), and
the service's webhook endpoints with their deliveries (``shared.webhooks``).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from sqlalchemy import (BigInteger, Boolean, Column, DateTime, ForeignKey, Index, Integer,
                        MetaData, String, Table, Text, UniqueConstraint, create_engine, event,
                        select, text)
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.errors import NotFound

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING)


def UTCDateTime() -> DateTime:  # noqa: N802 - reads like a column type
    return DateTime(timezone=True)


@dataclass(frozen=True)
class PlatformTables:
    outbox: Table
    inbox: Table
    event_sequence: Table
    idempotency_key: Table
    api_token: Table
    webhook_endpoint: Table
    webhook_delivery: Table


def define_platform_tables(metadata: MetaData) -> PlatformTables:
    outbox = Table(
        "outbox", metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(100), nullable=False),
        Column("subject", String(64), nullable=False),
        Column("body", Text, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("sent_at", UTCDateTime(), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
        # When the webhook dispatcher fanned the row out to the endpoints (``shared.webhooks``);
        # the relay never reads it, so a slow fan-out never holds the bus back.
        Column("webhooks_at", UTCDateTime(), nullable=True),
        Index("ix_outbox_unsent", "sent_at", "id"),
        Index("ix_outbox_webhooks_pending", "id", postgresql_where=text("webhooks_at IS NULL"),
              sqlite_where=text("webhooks_at IS NULL")),
    )
    inbox = Table(
        "inbox", metadata,
        Column("event_id", String(36), primary_key=True),
        Column("event_type", String(100), nullable=False),
        Column("received_at", UTCDateTime(), nullable=False),
        Index("ix_inbox_received_at", "received_at"),
    )
    event_sequence = Table(
        "event_sequence", metadata,
        Column("subject", String(64), primary_key=True),
        Column("last_value", BigInteger, nullable=False),
    )
    idempotency_key = Table(
        "idempotency_key", metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("scope", String(300), nullable=False),
        Column("key", String(200), nullable=False),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", Integer, nullable=True),
        Column("response_body", Text, nullable=True),
        Column("response_headers", Text, nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
        # Set in the transaction that committed the request's write (``shared.web.idempotency``):
        # a reservation without an answer but with this set must not run again.
        Column("committed_at", UTCDateTime(), nullable=True),
        UniqueConstraint("scope", "key", name="uq_idempotency_key_scope_key"),
        Index("ix_idempotency_key_created_at", "created_at"),
    )
    api_token = Table(
        "api_token", metadata,
        Column("id", String(36), primary_key=True),        # the token's id (``jti``)
        Column("name", Text, nullable=True),               # unknown for a token revoked by id
        Column("role", String(20), nullable=True),         # that this table never recorded
        Column("created_at", UTCDateTime(), nullable=True),
        Column("expires_at", UTCDateTime(), nullable=True),
        Column("revoked_at", UTCDateTime(), nullable=True),
    )
    webhook_endpoint = Table(
        "webhook_endpoint", metadata,
        Column("id", String(36), primary_key=True),
        Column("url", Text, nullable=False),
        Column("event_types", Text, nullable=False),       # a JSON list of patterns
        Column("description", Text, nullable=True),
        Column("secret", String(100), nullable=False),
        Column("enabled", Boolean, nullable=False),
        Column("disabled_reason", Text, nullable=True),
        Column("disabled_at", UTCDateTime(), nullable=True),
        Column("failing_since", UTCDateTime(), nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
    )
    webhook_delivery = Table(
        "webhook_delivery", metadata,
        Column("id", String(36), primary_key=True),
        Column("endpoint_id", String(36),
               ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), nullable=False),
        Column("event_id", String(36), nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("subject", String(64), nullable=False),
        Column("body", Text, nullable=False),               # the outbox row's body, as sent
        Column("status", String(10), nullable=False),       # pending | delivered | failed
        Column("attempts", Integer, nullable=False),
        Column("next_attempt_at", UTCDateTime(), nullable=True),
        Column("locked_until", UTCDateTime(), nullable=True),
        Column("last_status_code", Integer, nullable=True),
        Column("last_error", Text, nullable=True),
        Column("last_attempt_at", UTCDateTime(), nullable=True),
        Column("delivered_at", UTCDateTime(), nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_delivery_endpoint_event"),
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_endpoint_created", "endpoint_id", "created_at"),
    )
    return PlatformTables(outbox, inbox, event_sequence, idempotency_key, api_token,
                          webhook_endpoint, webhook_delivery)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def normalise_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` mean psycopg 3 here."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def psycopg_dsn(url) -> str:
    """A libpq connection string for a SQLAlchemy URL (``postgresql+psycopg://…``), for the
    connections the suite opens with psycopg itself (the relay's listener, the waker, the
    submit's driver connections)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


#: Seconds to wait for a PostgreSQL server to answer a new connection.
CONNECT_TIMEOUT_S = 5


#: A pooled PostgreSQL connection idle longer than this is checked (``SELECT 1``) before it is
#: handed out; one used more recently is handed out as it is.
PING_AFTER_IDLE_S = 1.0


def make_engine(url: str, **kwargs) -> Engine:
    url = normalise_url(url)
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S,
                                                  "check_same_thread": False},
                               **kwargs)
        _sqlite_pragmas(engine)
        return engine
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_use_lifo", True)   # the idle ones age out of use, the busy stay warm
    if "connect_timeout" not in url:
        # A server that does not answer is an outage (503), not a request hanging for minutes.
        kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, PING_AFTER_IDLE_S)
    return engine


_RETURNED_AT = "clientloop_returned_at"


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """SQLAlchemy's ``pool_pre_ping``, for connections idle over ``idle_s`` only.

    The stock pre-ping sends ``SELECT 1`` at every checkout: under load a round trip (and a
    statement for the server) per request, on connections returned milliseconds earlier. Here a
    connection that has been idle for longer — long enough for the server to have restarted, or
    to have closed it — is pinged as the stock pre-ping pings it: a dead one invalidates the pool
    and a new connection is made, so the request does not see it. One returned within ``idle_s``
    is used as it is; should the server have dropped it in that moment, the statement fails as
    any statement on a lost connection fails (SQLAlchemy invalidates the pool; the request
    answers 503 and the next one gets a new connection)."""
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _stamp(dbapi_connection, record, *_args) -> None:
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, record, _proxy) -> None:
        if time.monotonic() - record.info.get(_RETURNED_AT, 0.0) < idle_s:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise sqlalchemy_exc.InvalidatePoolError() from exc
            raise


#: How long a SQLite writer waits for the write lock before failing ("database is locked").
SQLITE_BUSY_TIMEOUT_S = 30
#: Set on every SQLite connection: WAL (readers never wait for the writer), the busy timeout,
#: foreign keys enforced, and a commit that syncs at checkpoints rather than at each write.
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL",
                  f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}",
                  "PRAGMA foreign_keys=ON", "PRAGMA synchronous=NORMAL")


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL, a busy timeout and ``BEGIN IMMEDIATE`` so concurrent writers queue, not fail."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        # A reading (``Database.reading``) takes a snapshot only: in WAL mode it neither waits
        # for the write lock nor holds it. Every other transaction takes the write lock first.
        read_only = connection.get_execution_options().get(READ_ONLY)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


#: The execution option of a read-only transaction (``Database.reading``).
READ_ONLY = "clientloop_read_only"


def get_or_not_found(session: Session, model, key: str, noun: str, *, for_update: bool = False):
    """The ORM row of ``model`` with primary key ``key``, or :class:`NotFound`.

    ``for_update`` locks the row until the transaction ends (PostgreSQL; SQLite serialises
    writers anyway) and reloads it, so a writer that waited sees its predecessor's result.
    """
    statement = select(model).where(model.id == str(key))
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    row = session.execute(statement).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No {noun} with id {key}.")
    return row


class Database:
    """An engine and its session factory for one service."""

    def __init__(self, url: str, **engine_kwargs) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._on_dispose: list = []

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error."""
        with self.sessions() as session:
            with session.begin():
                yield session

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only unit of work on a connection: on SQLite a plain ``BEGIN`` (one snapshot
        of the file, without SQLite's single write lock, which every ``transaction`` takes
        first), so a background reader never holds up the writers; on PostgreSQL an ordinary
        transaction. A write in it fails on SQLite if another writer is active."""
        with self.engine.connect() as connection:
            connection = connection.execution_options(**{READ_ONLY: True})
            with connection.begin():
                yield connection

    def on_dispose(self, callback) -> None:
        """Call ``callback`` when this database is disposed (another pool on the same URL)."""
        self._on_dispose.append(callback)

    def dispose(self) -> None:
        self.engine.dispose()
        for callback in self._on_dispose:
            callback()
