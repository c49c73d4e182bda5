"""A consumer whose database goes away holds its events instead of dead-lettering them.

The receiving service's PostgreSQL database is reached through a TCP proxy the test cuts. Events
published meanwhile fail with connection errors: none may reach the DLQ or use up an attempt.
Once the proxy is restored every event is applied exactly once (a table without any unique
constraint counts the handler's committed runs). A consumer stopped mid-outage leaves its
event for the next one. Failures of the event itself still go to the DLQ after the retries.
"""
from __future__ import annotations

import threading
import time
from collections import Counter

import psycopg
import pytest
from sqlalchemy import exc, func, select, text

from services.registry.adapters.orm import platform
from shared.bus import topology
from shared.bus.consumer import EventConsumer
from shared.bus.dlq import list_dead_letters
from shared.db import Database
from shared.migrations import upgrade
from tests.conftest import PG_HOST, PG_PORT
from tests.shared.bus_helpers import register, registry_context, relay_for, running, wait_for
from tests.shared.test_outage_web import through
from tests.support.tcp_proxy import TcpProxy

EVENTS = 5


def source_on(settings, broker: str, database_url: str):
    """The registry (publishing ``client.registered``) on its own database, and the bus."""
    ctx = registry_context(settings.with_overrides(
        broker_url=broker, database_urls={**settings.database_urls, "registry": database_url}))
    with topology.connection_for(broker) as connection:
        topology.declare(connection)
    return ctx


@pytest.fixture(params=["rabbitmq", "embedded"])
def source(request, settings, postgres_urls):
    broker = request.getfixturevalue("rabbitmq_url") if request.param == "rabbitmq" \
        else settings.broker_url
    ctx = source_on(settings, broker, postgres_urls["registry"])
    yield ctx
    ctx.database.dispose()


@pytest.fixture
def proxy():
    with TcpProxy(PG_HOST, PG_PORT) as running_proxy:
        yield running_proxy


@pytest.fixture
def receiver(postgres_urls, proxy):
    """The consuming service's database, through the proxy, with a count of applied runs."""
    url = postgres_urls["complaints"]
    upgrade("complaints", url)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE applied_run (event_id text NOT NULL)")
    database = Database(through(proxy, url))
    yield database
    database.dispose()


def handler(session, event):
    session.execute(text("INSERT INTO applied_run (event_id) VALUES (:id)"), {"id": event.id})


def consumer_for(source, receiver) -> EventConsumer:
    return EventConsumer("complaints", receiver, platform, source.settings.broker_url,
                         {"client.registered": handler}, retry_delays_s=(0.05, 0.1),
                         outage_backoff_s=(0.05, 0.2))


def applied_runs(receiver) -> Counter:
    with receiver.transaction() as session:
        return Counter(session.execute(text("SELECT event_id FROM applied_run")).scalars())


def inbox_size(receiver) -> int:
    with receiver.transaction() as session:
        return session.execute(select(func.count()).select_from(platform.inbox)).scalar_one()


def publish(source, count: int = EVENTS) -> None:
    for number in range(count):
        register(source, f"Held {number}")
    assert relay_for(source).publish_pending() == count


def test_events_arriving_during_a_database_outage_wait_and_are_applied_once_after_it(
        source, receiver, proxy):
    consumer = consumer_for(source, receiver)
    with running(consumer):
        proxy.cut()
        publish(source)
        time.sleep(2.0)  # (0.05 s, 0.1 s) of retries would have dead-lettered them long ago
        assert list_dead_letters(source.settings.broker_url, "complaints") == []
        assert consumer.applied == 0 and consumer.outage_waits >= EVENTS
        proxy.restore()
        assert wait_for(lambda: consumer.applied == EVENTS, timeout=20), consumer.applied
    runs = applied_runs(receiver)
    assert len(runs) == EVENTS and set(runs.values()) == {1}
    assert inbox_size(receiver) == EVENTS
    assert list_dead_letters(source.settings.broker_url, "complaints") == []


def test_a_consumer_stopped_during_the_outage_leaves_its_events_to_the_next_one(
        source, receiver, proxy):
    first = consumer_for(source, receiver)
    stop = threading.Event()
    thread = threading.Thread(target=first.run_until, args=(stop,), daemon=True)
    thread.start()
    proxy.cut()
    publish(source, 2)
    time.sleep(1.0)
    assert list_dead_letters(source.settings.broker_url, "complaints") == []
    stopped_at = time.monotonic()
    stop.set()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - stopped_at < 5
    proxy.restore()

    second = consumer_for(source, receiver)
    with running(second):
        assert wait_for(lambda: sum(applied_runs(receiver).values()) == 2, timeout=20)
    assert set(applied_runs(receiver).values()) == {1}
    assert list_dead_letters(source.settings.broker_url, "complaints") == []


def test_a_handler_failing_on_the_event_itself_still_ends_in_the_dlq(source, receiver):
    attempts = Counter()

    def broken(session, event):
        attempts[event.id] += 1
        raise exc.IntegrityError("INSERT …", {}, psycopg.errors.UniqueViolation("duplicate key"))

    consumer = EventConsumer("complaints", receiver, platform, source.settings.broker_url,
                             {"client.registered": broken}, retry_delays_s=(0.05, 0.1),
                             outage_backoff_s=(0.05, 0.2))
    with running(consumer):
        publish(source, 1)
        assert wait_for(lambda: len(list_dead_letters(source.settings.broker_url, "complaints")) == 1)
    assert list(attempts.values()) == [3]      # the first try and two retries
    assert consumer.outage_waits == 0


def test_a_consumer_holding_an_event_keeps_its_amqp_connection_alive(
        settings, postgres_urls, rabbitmq_url, receiver, proxy):
    """Heartbeats every second or so: without them RabbitMQ would drop the connection of a
    consumer busy holding an event for longer than two heartbeat intervals (3 s here: short
    enough to prove the point, long enough for a loaded CI machine)."""
    source = source_on(settings, rabbitmq_url, postgres_urls["registry"])
    consumer = consumer_for(source, receiver)
    consumer.connection = topology.connection_for(rabbitmq_url, heartbeat=3)
    connections = []
    consumer.on_connection_revived = lambda: connections.append(time.monotonic())
    try:
        with running(consumer):
            assert wait_for(lambda: len(connections) == 1)
            proxy.cut()
            publish(source, 1)
            time.sleep(9.0)                   # > 2 × 3 s heartbeat interval, holding the event
            proxy.restore()
            assert wait_for(lambda: consumer.applied == 1, timeout=20)
            time.sleep(1.5)
        assert len(connections) == 1          # never reconnected
        assert (consumer.applied, consumer.skipped) == (1, 0)
    finally:
        source.database.dispose()
