"""Batches: a handler with ``apply_many`` gets the events the broker has already delivered in
one transaction, on both transports — and exactly once still holds per event: a duplicate is
skipped, an event that cannot be applied is rolled back with its batch and then retried and
dead-lettered alone while the others are applied once, and a batch held through a database
outage by a consumer that stops is left whole to the next consumer."""
from __future__ import annotations

import json
import threading
import time
from collections import Counter

from kombu import Producer
from sqlalchemy import select, text

from services.registry.adapters.orm import platform
from shared.bus import topology
from shared.bus.consumer import EventConsumer
from shared.bus.dlq import list_dead_letters
from shared.bus.envelope import SERIALIZER
from tests.shared.bus_helpers import register, running, wait_for
from tests.shared.test_bus import bus_settings, ctx, receiver_db  # noqa: F401 - fixtures

CLIENTS = 30


def applied_runs(database) -> Counter:
    with database.transaction() as session:
        return Counter(session.execute(text("SELECT event_id FROM applied_run")).scalars())


def batch_handler(poison: set[str], sizes: list[int], outage: dict | None = None):
    """Writes one ``applied_run`` row per event it applies; refuses the ``poison`` subjects.

    While ``outage["on"]`` both entry points fail as a database that is down would: the runner
    applies a batch through ``apply_many`` and a lone event through ``apply``."""

    def down():
        if outage is not None and outage["on"]:
            raise ConnectionRefusedError("the database is down")

    def apply(session, event):
        down()
        if event.subject in poison:
            raise ValueError("cannot apply this one")
        session.execute(text("INSERT INTO applied_run (event_id) VALUES (:id)"), {"id": event.id})

    def apply_many(session, events):
        down()
        sizes.append(len(events))
        for event in events:
            apply(session, event)

    apply.apply_many = apply_many
    return apply


def publish_twice(ctx, receiver_db) -> list[dict]:
    """Every pending ``client.registered`` of the source, published twice (a redelivery)."""
    with receiver_db.transaction() as session:
        session.execute(text("CREATE TABLE applied_run (event_id text NOT NULL)"))
    with ctx.database.transaction() as session:
        bodies = [json.loads(body) for body in session.execute(
            select(platform.outbox.c.body).order_by(platform.outbox.c.id)).scalars()]
    with topology.connection_for(ctx.settings.broker_url) as connection:
        topology.declare(connection)
        producer = Producer(connection.default_channel, serializer=SERIALIZER)
        for envelope in bodies + bodies:
            producer.publish(envelope, exchange=topology.EXCHANGE_NAME,
                             routing_key="client.registered", delivery_mode=2, declare=[],
                             retry=True)
    return bodies


def test_delivered_events_are_applied_in_batches_each_once_and_a_bad_one_alone_goes_to_the_dlq(
        ctx, receiver_db):
    clients = [register(ctx, f"Client {number}") for number in range(CLIENTS)]
    poison = {clients[7].id}
    sizes: list[int] = []
    consumer = EventConsumer("complaints", receiver_db, platform, ctx.settings.broker_url,
                             {"client.registered": batch_handler(poison, sizes)},
                             retry_delays_s=(0.05, 0.1), batch_size=10, prefetch_count=20)
    bodies = publish_twice(ctx, receiver_db)  # queued before the consumer starts
    with running(consumer):
        assert wait_for(lambda: consumer.applied + consumer.skipped == 2 * CLIENTS - 2,
                        timeout=30), (consumer.applied, consumer.skipped)
        assert wait_for(lambda: len(list_dead_letters(ctx.settings.broker_url,
                                                      "complaints")) == 2, timeout=30)
    runs = applied_runs(receiver_db)
    expected = {body["id"] for body in bodies if body["subject"] not in poison}
    assert set(runs) == expected and set(runs.values()) == {1}
    assert (consumer.applied, consumer.skipped) == (CLIENTS - 1, CLIENTS - 1)
    assert consumer.batches >= 2 and max(sizes) > 1 and max(sizes) <= 10
    letters = list_dead_letters(ctx.settings.broker_url, "complaints")  # both copies
    assert [letter.subject for letter in letters] == [clients[7].id] * 2
    with receiver_db.transaction() as session:
        inbox = set(session.execute(select(platform.inbox.c.event_id)).scalars())
    assert inbox == expected


def test_a_batch_held_through_an_outage_by_a_consumer_that_stops_goes_whole_to_the_next(
        ctx, receiver_db):
    for number in range(12):
        register(ctx, f"Held {number}")
    outage = {"on": True}
    sizes: list[int] = []
    handler = batch_handler(set(), sizes, outage)
    first = EventConsumer("complaints", receiver_db, platform, ctx.settings.broker_url,
                          {"client.registered": handler}, retry_delays_s=(0.05, 0.1),
                          outage_backoff_s=(0.05, 0.2))
    bodies = publish_twice(ctx, receiver_db)
    stop = threading.Event()
    thread = threading.Thread(target=first.run_until, args=(stop,), daemon=True)
    thread.start()
    assert wait_for(lambda: first.outage_waits >= 3)
    time.sleep(0.3)
    stop.set()
    thread.join(10)
    assert not thread.is_alive() and first.applied == 0 and not applied_runs(receiver_db)

    outage["on"] = False
    second = EventConsumer("complaints", receiver_db, platform, ctx.settings.broker_url,
                           {"client.registered": handler}, retry_delays_s=(0.05, 0.1))
    with running(second):
        assert wait_for(lambda: second.applied == 12 and second.skipped == 12, timeout=30)
    runs = applied_runs(receiver_db)
    assert set(runs) == {body["id"] for body in bodies} and set(runs.values()) == {1}
    assert list_dead_letters(ctx.settings.broker_url, "complaints") == []
