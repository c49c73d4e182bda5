"""Waking the relay of a PostgreSQL service after commits that wrote outbox rows.

The relay waits on ``LISTEN clientloop_outbox_<service>`` (and polls as a fallback). A
``NOTIFY`` inside the writing transaction would wake it at commit, but PostgreSQL serialises
every committing transaction that notified — each holds the notification queue's lock through
its WAL flush — so under load requests would commit one at a time. Instead, a request that
committed outbox rows *pokes* its process's :class:`Waker`, and a thread of the waker sends one
``NOTIFY`` on a connection of its own (autocommit, ``synchronous_commit`` off: nothing durable
rides on it) for however many commits poked it meanwhile. The relay reads committed rows only,
so a wake-up that comes after the commit is always in time; a wake-up lost (the waker's
connection failing) delays the rows until the relay's next poll, never loses them.

Under load the waker polls instead of being signalled: after a ``NOTIFY`` its thread sleeps
``min_interval_s`` (20 ms) and sends one more if anything poked it meanwhile, until a pause passes
without a poke. Meanwhile a poke costs its request two attribute accesses (no lock, no thread
to wake), and the relay, which reads every committed row on each wake-up, gets at most about
50 wake-ups a second from a process instead of one per commit. A poke after a quiet moment
wakes the thread at once. Each ``NOTIFY`` is a transaction, and each turn of the thread takes
the interpreter lock from the request threads: at a few hundred commits a second in a process,
a pause of 5 ms cost about 0.3 ms of CPU (the process's and PostgreSQL's) per commit more than
one of 20 ms, for events that reach the relay at most 15 ms later.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

from shared.db import psycopg_dsn

log = logging.getLogger("clientloop.bus.wake")

_wakers: dict[tuple[int, str, str], "Waker"] = {}
_lock = threading.Lock()


class Waker:
    """Sends ``NOTIFY channel`` soon after :meth:`poke`, once for any number of pokes. Its
    thread and connection close after ``idle_s`` without a poke, and come back with the next."""

    def __init__(self, dsn: str, channel: str, *, connect: Callable | None = None,
                 idle_s: float = 30.0, min_interval_s: float = 0.02) -> None:
        self.idle_s = idle_s
        self.min_interval_s = min_interval_s
        self.dsn = dsn
        self.channel = channel
        self._connect = connect or _connect
        self._poked = threading.Event()
        self._pending = False   # poked since the last NOTIFY
        self._polling = False   # the thread is between NOTIFYs, looking at _pending itself
        self._connection = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.sent = 0   # NOTIFYs sent (for tests and metrics)

    def poke(self) -> None:
        self._pending = True
        if self._polling:
            return   # the thread looks at _pending again within min_interval_s
        if self._poked.is_set() and self._thread is not None:
            return   # a NOTIFY is already due; the thread sends it (it never leaves while poked)
        with self._start_lock:
            self._poked.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"outbox-wake-{self.channel}")
                self._thread.start()

    def _run(self) -> None:
        while True:
            if not self._poked.wait(self.idle_s):
                with self._start_lock:   # idle: let the thread and its connection go
                    if not self._poked.is_set():
                        self._close()
                        self._thread = None
                        return
                continue
            self._poked.clear()
            self._polling = True
            while self._pending:
                self._pending = False
                if not self._notify():
                    break
                time.sleep(self.min_interval_s)   # the pokes meanwhile share the next NOTIFY
            self._polling = False
            if self._pending:   # poked after the last look, and saw the thread still polling
                self._poked.set()

    def _notify(self) -> bool:
        try:
            if self._connection is None:
                self._connection = self._connect(self.dsn)
            self._connection.execute("SELECT pg_notify(%s, '')", (self.channel,))
            self.sent += 1
            return True
        except Exception as exc:  # noqa: BLE001 - the relay's poll picks the rows up
            log.warning("could not wake the relay; it will find the rows at its next poll",
                        extra={"error": str(exc)})
            self._close()
            self._pending = False
            threading.Event().wait(1.0)
            return False

    def _close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # noqa: BLE001
                pass
        self._connection = None


def _connect(dsn: str):
    import psycopg
    from shared.db import CONNECT_TIMEOUT_S
    connection = psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    connection.execute("SET synchronous_commit TO off")
    return connection


def waker(url, channel: str) -> Waker:
    """This process's waker for ``channel`` on the database at ``url`` (a SQLAlchemy URL)."""
    key = (os.getpid(), url, channel)   # a forked child makes its own thread and connection
    found = _wakers.get(key)
    if found is None:
        with _lock:
            found = _wakers.setdefault(key, Waker(psycopg_dsn(url), channel))
    return found
