"""``shared.bus.wake``: commits that wrote outbox rows wake the relay with one NOTIFY for many."""
from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy.engine import make_url

from shared.bus.wake import Waker, waker
from shared.db import psycopg_dsn

pytestmark = pytest.mark.postgres


def _listener(url: str, channel: str):
    connection = psycopg.connect(url, autocommit=True)
    connection.execute(f'LISTEN "{channel}"')
    return connection


def _notified(connection, seconds: float = 5.0) -> int:
    return sum(1 for _ in connection.notifies(timeout=seconds, stop_after=1))


def test_a_poke_wakes_a_listener_and_many_pokes_make_few_notifies(postgres_url):
    listener = _listener(postgres_url, "clientloop_outbox_test")
    try:
        wake = Waker(postgres_url, "clientloop_outbox_test")
        for _ in range(2000):
            wake.poke()
        assert _notified(listener) >= 1
        deadline = time.monotonic() + 5
        while (wake._poked.is_set() or wake.sent == 0) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert 1 <= wake.sent < 200
    finally:
        listener.close()


def test_an_idle_waker_lets_its_connection_go_and_comes_back_on_the_next_poke(postgres_url):
    listener = _listener(postgres_url, "clientloop_outbox_idle")
    try:
        wake = Waker(postgres_url, "clientloop_outbox_idle", idle_s=0.1)
        wake.poke()
        assert _notified(listener) >= 1
        deadline = time.monotonic() + 5
        while wake._thread is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert wake._thread is None and wake._connection is None
        wake.poke()
        assert _notified(listener) >= 1
    finally:
        listener.close()


def test_a_waker_that_cannot_connect_keeps_going(postgres_url):
    attempts = []

    def flaky(dsn):
        attempts.append(dsn)
        if len(attempts) == 1:
            raise psycopg.OperationalError("server closed the connection")
        return psycopg.connect(dsn, autocommit=True)

    listener = _listener(postgres_url, "clientloop_outbox_flaky")
    try:
        wake = Waker(postgres_url, "clientloop_outbox_flaky", connect=flaky)
        wake.poke()                      # lost: the relay's poll finds those rows
        deadline = time.monotonic() + 5
        while len(attempts) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(1.2)                  # the waker backs off a second after a failure
        wake.poke()
        assert _notified(listener) >= 1 and len(attempts) == 2
    finally:
        listener.close()


def test_one_waker_per_process_database_and_channel(postgres_url):
    url = make_url(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    assert waker(url, "a") is waker(url, "a")
    assert waker(url, "a") is not waker(url, "b")
    assert psycopg_dsn(url).startswith("postgresql://")


def test_a_commit_that_wrote_rows_without_a_notify_wakes_the_relay_after_it(postgres_url):
    from shared.bus.outbox import install_commit_hook
    from shared.db import Database
    database = Database(postgres_url)
    install_commit_hook(database.sessions)
    listener = _listener(postgres_url, "clientloop_outbox_hooked")
    try:
        with database.transaction() as session:   # rows whose statement notified itself
            session.info["outbox_written"] = True
        assert _notified(listener, 0.5) == 0
        with database.transaction() as session:   # rows written without a NOTIFY
            session.info["outbox_written"] = "hooked"
        assert _notified(listener) >= 1
    finally:
        listener.close()
        database.dispose()


def _poke_steadily(wake: Waker, *, seconds: float, gap_s: float) -> tuple[int, float, int]:
    """Poke ``wake`` every ``gap_s`` for ``seconds``, as a busy process after each commit, then
    wait until its thread has nothing left to send: (pokes, seconds it took, NOTIFYs sent by the
    time of the last poke)."""
    started = time.monotonic()
    pokes = 0
    while time.monotonic() - started < seconds:
        wake.poke()
        sent_at_last_poke = wake.sent
        pokes += 1
        time.sleep(gap_s)
    elapsed = time.monotonic() - started
    deadline = time.monotonic() + 5
    while (wake._poked.is_set() or wake._polling) and time.monotonic() < deadline:
        time.sleep(0.005)
    return pokes, elapsed, sent_at_last_poke


def test_pokes_spread_over_time_share_notifies_at_most_one_per_interval(postgres_url):
    """A busy process pokes after every commit; the waker sends at most one NOTIFY per
    ``min_interval_s``, however the pokes fall, and the last poke is always followed by one."""
    listener = _listener(postgres_url, "clientloop_outbox_spread")
    try:
        wake = Waker(postgres_url, "clientloop_outbox_spread", min_interval_s=0.02)
        wake.poke()
        assert _notified(listener) >= 1
        pokes, elapsed, sent_at_last_poke = _poke_steadily(wake, seconds=0.5, gap_s=0.0005)
        assert pokes > 200
        assert 2 <= wake.sent <= elapsed / 0.02 + 3
        assert wake.sent > sent_at_last_poke   # a NOTIFY was sent after the last poke
        received = sum(1 for _ in listener.notifies(timeout=0.3))
        assert received >= 1
    finally:
        listener.close()


def test_a_steady_stream_of_commits_gets_at_most_one_notify_every_20_ms(postgres_url):
    """Each NOTIFY is a transaction for PostgreSQL and a wake-up of the waker's thread, which
    then takes the interpreter from the request threads: under a steady stream of commits (one
    every 4 ms here, as in a web worker answering a few hundred submits a second) the waker as
    the services make it sends at most one every 20 ms."""
    listener = _listener(postgres_url, "clientloop_outbox_steady")
    try:
        wake = Waker(postgres_url, "clientloop_outbox_steady")
        wake.poke()
        assert _notified(listener) >= 1
        pokes, elapsed, _sent = _poke_steadily(wake, seconds=0.6, gap_s=0.004)
        assert pokes >= 60
        assert 2 <= wake.sent <= elapsed / 0.02 + 3
    finally:
        listener.close()


def test_the_relays_connection_listens_and_does_not_wait_for_disk_flushes(postgres_url):
    """The active relay's own connection: autocommit, listening on the service's channel, its
    ``sent_at`` marks committed without waiting for the WAL flush (a lost mark means the event
    is published again, which consumers deduplicate); the services' own connections keep the
    server's default."""
    from shared.bus.outbox import notify_channel
    from shared.bus.relay import listener_connection
    from shared.db import Database
    database = Database(postgres_url)
    connection = listener_connection(database, "complaints")
    try:
        assert connection.autocommit
        assert connection.execute("SHOW synchronous_commit").fetchone()[0] == "off"
        with psycopg.connect(postgres_url, autocommit=True) as other:
            other.execute(f"NOTIFY \"{notify_channel('complaints')}\"")
        assert [notice.channel for notice in connection.notifies(timeout=5, stop_after=1)] == \
            [notify_channel("complaints")]
        with database.transaction() as session:
            from sqlalchemy import text
            assert session.execute(text("SHOW synchronous_commit")).scalar_one() == "on"
    finally:
        connection.close()
        database.dispose()
