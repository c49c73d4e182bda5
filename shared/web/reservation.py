"""A reserved ``Idempotency-Key``: marked in the transaction that commits the request's write.

``shared.web.idempotency`` reserves a key in a short transaction of its own, then runs the view.
Whether the view's write committed must be known for certain afterwards, even when the request
dies before it can store its answer (the database went away, the process was killed): a retry
may run the view again only if nothing was committed. So the reservation is held on the request
(``flask.g``) while the view runs, and a session ``before_commit`` listener (installed once per
service :class:`~shared.db.Database` by :func:`install`) sets ``committed_at`` on the reserved row
in the very transaction that commits a write — both commit, or neither does.

The mark names the reservation exactly (its row id and the time it was reserved), so a request
whose reservation a retry has taken over (``shared.web.idempotency``: after the lease) cannot
commit at all: its mark finds no row and :class:`ReservationTakenOver` rolls the write back.

What a request could not finish because the database was unreachable (freeing the key after a
failed view, storing the answer of a committed one) is finished by :data:`later`, one daemon
thread per process retrying with backoff for a bounded time, so after a short outage the key
answers a retry as soon as the database is back.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from flask import g, has_app_context
from sqlalchemy import Table, event, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, Session

from shared.errors import Conflict
from shared.outages import dependency_unavailable

log = logging.getLogger("clientloop.idempotency")

#: ``session.info`` flags: the transaction wrote something; it carried the reservation's mark.
WROTE = "idempotency_wrote"
MARKED = "idempotency_marked"


@dataclass
class Reservation:
    """The ``idempotency_key`` row a request reserved, and whether its write has committed."""

    table: Table
    row_id: int
    reserved_at: datetime
    engine: Engine
    clock: Callable[[], datetime]
    committed: bool = False

    def owned(self):
        """The condition naming this reservation's row, as long as nobody took it over."""
        return (self.table.c.id == self.row_id) & (self.table.c.created_at == self.reserved_at)


class ReservationTakenOver(Conflict):
    """The request outlived its lease and a retry with the same key took its place."""

    title = "Idempotency-Key taken over"

    def __init__(self) -> None:
        super().__init__("This request ran longer than an Idempotency-Key is reserved for, and a "
                         "retry with the same key took its place; this request changed nothing.")


def hold(reservation: Reservation) -> None:
    g.idempotency_reservation = reservation


def release() -> None:
    g.pop("idempotency_reservation", None)


def held() -> Reservation | None:
    return g.get("idempotency_reservation") if has_app_context() else None


def install(session_factory) -> None:
    """Mark held reservations in the transactions of ``session_factory``'s sessions (once)."""
    for name, listener in (("do_orm_execute", _note_statement), ("after_flush", _note_flush),
                           ("before_commit", _mark_committed), ("after_commit", _committed),
                           ("after_rollback", _rolled_back)):
        if not event.contains(session_factory, name, listener):
            event.listen(session_factory, name, listener)


def _note_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[WROTE] = True


def _note_flush(session: Session, _flush_context) -> None:
    if session.new or session.deleted or any(session.is_modified(obj) for obj in session.dirty):
        session.info[WROTE] = True


def _mark_committed(session: Session) -> None:
    reservation = held()
    if reservation is None or session.get_bind() is not reservation.engine \
            or session.in_nested_transaction():  # a savepoint: the commit is yet to come
        return
    session.flush()  # what the commit would flush next, so that it counts as written
    if not (session.info.get(WROTE) or session.info.get("outbox_written")):
        return  # a read: nothing to mark
    table = reservation.table
    marked = session.connection().execute(update(table).where(reservation.owned())
                                          .values(committed_at=reservation.clock()))
    if marked.rowcount != 1:
        raise ReservationTakenOver()
    session.info[MARKED] = reservation


def _committed(session: Session) -> None:
    if session.in_nested_transaction():
        return
    session.info.pop(WROTE, None)
    reservation = session.info.pop(MARKED, None)
    if reservation is not None:
        reservation.committed = True


def _rolled_back(session: Session) -> None:
    if session.in_nested_transaction():
        return  # what the transaction wrote before the savepoint still counts
    session.info.pop(WROTE, None)
    session.info.pop(MARKED, None)


class Later:
    """One daemon thread per process that retries what a request could not finish.

    A job is retried while it fails for an outage (``shared.outages``), with backoff from
    ``FIRST_DELAY_S`` up to ``MAX_DELAY_S``, until its deadline (``time.monotonic()``); any other
    failure is logged and the job dropped. Jobs run in the order they came, and a pass stops at
    the first outage: the database is still away.
    """

    FIRST_DELAY_S = 0.25
    MAX_DELAY_S = 2.0

    def __init__(self) -> None:
        self._jobs: list[tuple[str, Callable[[], None], float]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, what: str, job: Callable[[], None], deadline: float) -> None:
        with self._lock:
            self._jobs.append((what, job, deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="idempotency-later",
                                                daemon=True)
                self._thread.start()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._jobs)

    def _run(self) -> None:
        delay = self.FIRST_DELAY_S
        while True:
            time.sleep(delay)
            with self._lock:
                jobs = list(self._jobs)
            finished = self._pass(jobs)
            with self._lock:
                self._jobs = [job for job in self._jobs if job not in finished]
                if not self._jobs:
                    self._thread = None
                    return
            delay = min(delay * 2, self.MAX_DELAY_S) if len(finished) < len(jobs) \
                else self.FIRST_DELAY_S

    @staticmethod
    def _pass(jobs) -> list:
        finished = []
        for job in jobs:
            what, run, deadline = job
            if time.monotonic() > deadline:
                log.warning("idempotency key left to its lease", extra={"job": what})
                finished.append(job)
                continue
            try:
                run()
            except Exception as error:  # noqa: BLE001 - sorted out just below
                if dependency_unavailable(error):
                    break
                log.exception("idempotency key job failed", extra={"job": what})
            finished.append(job)
        return finished


#: The process's background retries.
later = Later()
