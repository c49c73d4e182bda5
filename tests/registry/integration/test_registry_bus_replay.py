"""The production path: 1,000 mixed feedback and complaint events for 50 clients, published to
RabbitMQ twice each in shuffled order and applied by two registry consumers at once on
PostgreSQL, give exactly the records that the same events applied once, in event-time order,
give on a second database."""
from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from kombu import Producer

from services.registry.adapters.orm import platform
from services.registry.app import build_context, event_handlers
from shared.bus import topology
from shared.bus.consumer import EventConsumer, apply_once
from shared.bus.envelope import SERIALIZER, Event
from shared.events import validate_data
from shared.migrations import upgrade
from tests.registry.conftest import Clock, published, register
from tests.registry.records_view import records_of
from tests.registry.registry_events import BusEvents, short_type

CLIENTS = 50
EVENTS_PER_CLIENT = 20
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)
REGISTERED = NOW - timedelta(days=400)
SEVERITIES = ("low", "medium", "high", "critical")


def client_stories(rng: random.Random, bus: BusEvents, client_id: str) -> list[dict]:
    """Twenty events for one client over the last 200 days: surveys (some unscored) and
    complaints opened, sometimes reclassified, resolved, sometimes reopened and resolved again;
    the last story may stop half-way (a complaint left open)."""
    events: list[dict] = []
    while len(events) < EVENTS_PER_CLIENT:
        at = NOW - timedelta(days=rng.uniform(1, 200))
        if rng.random() < 0.35:
            score = None if rng.random() < 0.1 else round(rng.uniform(0, 100), rng.choice((0, 1, 3)))
            events.append(bus.survey(client_id, score, at=at))
            continue
        ref, severity = bus.new_ref(), rng.choice(SEVERITIES)
        story = [bus.opened(client_id, severity, ref=ref, at=at)]
        if rng.random() < 0.3:
            at += timedelta(hours=rng.uniform(1, 48))
            new = rng.choice([s for s in SEVERITIES if s != severity])
            story.append(bus.reclassified(client_id, severity, new, ref=ref, at=at))
            severity = new
        at += timedelta(hours=rng.uniform(1, 240))
        story.append(bus.resolved(client_id, severity, ref=ref, within_sla=rng.random() < 0.7, at=at))
        if rng.random() < 0.25:
            at += timedelta(days=rng.uniform(1, 20))
            story.append(bus.reopened(client_id, severity, ref=ref, at=at))
            at += timedelta(days=rng.uniform(1, 10))
            story.append(bus.resolved(client_id, severity, ref=ref, within_sla=rng.random() < 0.5, at=at))
        events.extend(story)
    return events[:EVENTS_PER_CLIENT]


@pytest.fixture
def contexts(settings, rabbitmq_url, postgres_urls):
    """Two registries on PostgreSQL with the same 50 clients: one fed by the bus, one in order."""
    built = []
    for url in (postgres_urls["registry"], postgres_urls["survey"]):
        upgrade("registry", url)
        clock = Clock()
        clock.now = REGISTERED
        ctx = build_context(settings.with_overrides(broker_url=rabbitmq_url,
                                                    database_urls={**settings.database_urls,
                                                                   "registry": url}), clock=clock)
        for number in range(CLIENTS):
            amount = ("2500000.00", "1000000.00", "999999.99", "150000.00", "100000.00", "42000.50",
                      None)[number % 7]
            fields = {} if amount is None else {"annual_value": {"amount": amount, "currency": "CNY"}}
            register(ctx, f"Client {number:02d}", client_id=f"00000000-0000-4000-8000-{number:012d}",
                     **fields)
        clock.now = NOW
        built.append(ctx)
    yield built
    for ctx in built:
        ctx.database.dispose()


def test_twice_delivered_shuffled_events_give_the_records_of_one_ordered_pass(contexts):
    via_bus, in_order = contexts
    rng = random.Random(20260601)
    bus = BusEvents(NOW)
    envelopes = [envelope for number in range(CLIENTS) for envelope in
                 client_stories(rng, bus, f"00000000-0000-4000-8000-{number:012d}")]
    assert len(envelopes) == CLIENTS * EVENTS_PER_CLIENT == 1000
    for envelope in envelopes:
        validate_data(short_type(envelope), envelope["data"])

    # Twice each, shuffled, through RabbitMQ to two consumers working at once...
    deliveries = envelopes * 2
    rng.shuffle(deliveries)
    broker = via_bus.settings.broker_url
    with topology.connection_for(broker) as connection:
        topology.declare(connection)
        producer = Producer(connection.default_channel, serializer=SERIALIZER)
        for envelope in deliveries:
            producer.publish(envelope, exchange=topology.EXCHANGE_NAME, routing_key=short_type(envelope),
                             delivery_mode=2, declare=[], retry=True)
    consumers = [EventConsumer("registry", via_bus.database, platform, broker, event_handlers(via_bus),
                               retry_delays_s=(0.05, 0.1, 0.2), clock=via_bus.clock) for _ in range(2)]
    stop = threading.Event()
    threads = [threading.Thread(target=consumer.run_until, args=(stop,), daemon=True)
               for consumer in consumers]
    for thread in threads:
        thread.start()
    try:
        # ...while the other database gets each once, in event-time order, through the runner's
        # own apply_once.
        handlers = event_handlers(in_order)
        for envelope in sorted(envelopes, key=lambda e: (e["time"], e["id"])):
            event = Event.from_envelope(envelope)
            assert apply_once(in_order.database, platform, handlers[event.type], event, now=NOW)
        deadline = time.monotonic() + 90
        while sum(c.applied + c.skipped for c in consumers) < len(deliveries):
            assert time.monotonic() < deadline, "the consumers did not finish in time"
            stop.wait(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)

    assert sum(c.applied for c in consumers) == 1000
    assert sum(c.skipped for c in consumers) == 1000
    assert sum(c.batches for c in consumers) > 0  # several events in one transaction
    expected, actual = records_of(in_order), records_of(via_bus)
    assert len(expected["applied"]) == 1000
    assert sum(len(ledger) for ledger in expected["ledgers"].values()) > 800
    for part in ("applied", "clients", "ledgers", "histories"):
        assert actual[part] == expected[part], part
    bands = {row[3] for row in expected["clients"].values()}
    assert len(bands) >= 2, bands  # the data set is not trivially uniform
    for event in published(via_bus, "client.value.changed")[:200] + \
            published(via_bus, "client.satisfaction.changed")[:200]:
        validate_data(short_type(event), event["data"])
