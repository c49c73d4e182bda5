"""Issued and revoked API tokens, kept in every service's own ``api_token`` table.

Services share nothing but the bus, so the command line writes each token it issues, and each
revocation, into every service database it is configured for; each service then reads only its
own copy. A token this table never recorded (issued before it existed) still verifies until it
is revoked: revoking an unknown id records it as revoked.

:class:`RevocationList` is what a web process consults on every authenticated request. It keeps
the ids of the revoked tokens that have not yet expired in memory and re-reads them at most every
``refresh_s`` seconds (2 s), so a revocation is refused everywhere within a few seconds. If a
re-read fails (the database is briefly unreachable) the list read last is used and a warning is
logged; after ``max_stale_s`` (30 s) without a successful read, requests carrying a token fail
with :class:`RevocationListUnavailable`, caused by the database error, which the web layer answers
as it answers that error (503 for an outage). A service never accepts a token on a list older
than that.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from shared.auth import Principal
from shared.clock import as_utc, isoformat_z, utcnow
from shared.db import Database

log = logging.getLogger("clientloop.tokens")


@dataclass(frozen=True)
class TokenRecord:
    """One row of ``api_token``, as ``clientloop token list`` shows it."""

    id: str
    name: str | None
    role: str | None
    created_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


def record_token(database: Database, table: Table, principal: Principal, *, now: datetime) -> None:
    """Remember a token just issued (idempotent: an id already there is left as it is)."""
    with database.transaction() as session:
        if session.execute(select(table.c.id).where(table.c.id == principal.token_id)).first():
            return
        session.execute(table.insert().values(
            id=principal.token_id, name=principal.name, role=principal.role, created_at=now,
            expires_at=principal.expires_at, revoked_at=None))


def revoke_token(database: Database, table: Table, token_id: str, *, now: datetime) -> bool:
    """Mark ``token_id`` revoked (an earlier revocation keeps its time). False if the table did
    not know the token before (it is recorded as revoked all the same)."""
    with database.transaction() as session:
        known = session.execute(select(table.c.id).where(table.c.id == token_id)).first() is not None
        if known:
            session.execute(update(table).where(table.c.id == token_id, table.c.revoked_at.is_(None))
                            .values(revoked_at=now))
            return True
    try:
        with database.transaction() as session:
            session.execute(table.insert().values(id=token_id, revoked_at=now))
    except IntegrityError:  # recorded meanwhile by a concurrent create or revoke: revoke that row
        return revoke_token(database, table, token_id, now=now)
    return False


def list_tokens(database: Database, table: Table) -> list[TokenRecord]:
    with database.sessions() as session:
        rows = session.execute(select(table)).all()
    return [TokenRecord(row.id, row.name, row.role, as_utc(row.created_at), as_utc(row.expires_at),
                        as_utc(row.revoked_at)) for row in rows]


def revoked_ids(database: Database, table: Table, *, now: datetime) -> frozenset[str]:
    """Ids of the revoked tokens that have not expired (an expired token is refused anyway)."""
    statement = select(table.c.id).where(and_(
        table.c.revoked_at.is_not(None),
        or_(table.c.expires_at.is_(None), table.c.expires_at > now)))
    with database.sessions() as session:
        return frozenset(session.execute(statement).scalars())


class RevocationListUnavailable(Exception):
    """The revoked tokens could not be read for too long to trust the last list read."""


class RevocationList:
    """The revoked token ids of one service database, re-read at most every ``refresh_s``."""

    def __init__(self, database: Database, table: Table, *, refresh_s: float = 2.0,
                 max_stale_s: float = 30.0, monotonic: Callable[[], float] = time.monotonic,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.database, self.table = database, table
        self.refresh_s, self.max_stale_s = refresh_s, max_stale_s
        self.monotonic, self.clock = monotonic, clock
        self._ids: frozenset[str] = frozenset()
        self._read_at: float | None = None        # monotonic time of the last successful read
        self._next_read = float("-inf")
        self._error: SQLAlchemyError | None = None
        self._lock = threading.Lock()

    def is_revoked(self, token_id: str) -> bool:
        return token_id in self._current()

    def _fresh_enough(self) -> bool:
        return self._read_at is not None and self.monotonic() - self._read_at <= self.max_stale_s

    def _current(self) -> frozenset[str]:
        # Without a usable list, wait for a read in progress too (it set ``_next_read`` ahead).
        if self.monotonic() >= self._next_read or not self._fresh_enough():
            # While a usable list exists, one thread re-reads and the others go on with it.
            if self._lock.acquire(blocking=not self._fresh_enough()):
                try:
                    if self.monotonic() >= self._next_read:
                        self._read()
                finally:
                    self._lock.release()
        if not self._fresh_enough():
            raise RevocationListUnavailable("The revoked tokens cannot be read.") from self._error
        return self._ids

    def _read(self) -> None:
        started = self.monotonic()
        self._next_read = started + self.refresh_s
        try:
            ids = revoked_ids(self.database, self.table, now=self.clock())
        except SQLAlchemyError as exc:
            self._error = exc
            last = "never" if self._read_at is None else f"{started - self._read_at:.1f} s ago"
            log.warning("cannot read the revoked tokens (last read: %s)", last,
                        extra={"error": type(exc).__name__})
            return
        self._ids, self._read_at, self._error = ids, started, None


def merge_records(copies: dict[str, Iterable[TokenRecord]]) -> list[dict]:
    """One line per token from every database's copy, newest first.

    ``revoked_at`` is set when every database revoked the token (the earliest time); a token
    revoked in some databases only also names them in ``revoked_in``.
    """
    by_id: dict[str, dict] = {}
    revoked: dict[str, dict[str, datetime]] = {}
    for service, records in copies.items():
        for record in records:
            line = by_id.setdefault(record.id, {"id": record.id, "name": None, "role": None,
                                                "created_at": None, "expires_at": None})
            for key in ("name", "role", "created_at", "expires_at"):
                line[key] = line[key] or getattr(record, key)
            if record.revoked_at is not None:
                revoked.setdefault(record.id, {})[service] = record.revoked_at
    lines = []
    for token_id, line in by_id.items():
        times = revoked.get(token_id, {})
        everywhere = len(times) == len(copies)
        line["revoked_at"] = isoformat_z(min(times.values())) if times and everywhere else None
        if times and not everywhere:
            line["revoked_in"] = sorted(times)
        line["created_at"] = isoformat_z(line["created_at"])
        line["expires_at"] = isoformat_z(line["expires_at"])
        lines.append(line)
    lines.sort(key=lambda line: (line["created_at"] or "", line["id"]), reverse=True)
    return lines



def use_once(database: Database, table: Table, token_id: str, *, now: datetime) -> bool:
    """Mark a one-time token (a console sign-in link) used: True for the first use of a
    recorded, unexpired, unused id; False for every other (it is already marked, by an earlier
    use or a revocation, unknown, or expired). One atomic ``UPDATE``, so two uses at once
    cannot both win."""
    statement = (update(table)
                 .where(table.c.id == token_id, table.c.revoked_at.is_(None),
                        table.c.expires_at > now)
                 .values(revoked_at=now))
    with database.transaction() as session:
        return session.execute(statement).rowcount == 1
