"""The bus topology on real RabbitMQ, read back from the broker itself.

After ``shared.bus.topology.declare`` on a fresh virtual host: the events exchange and its
alternate, a quorum ``<service>.events`` per consuming service dead-lettering at least once to
its DLQ, a retry queue that dead-letters back to its own service's queue only, bindings that are
exactly the service's subscriptions; declaring again changes nothing. Then the relay run as two
replicas on PostgreSQL publishes every event exactly once, in order per subject, also when the
active one stops and the standby takes over.
"""
from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from urllib.parse import unquote, urlparse

import pika
import pytest
from sqlalchemy import func, select, text

from services.registry.adapters.orm import platform
from shared.bus import topology
from shared.bus.outbox import record_event
from shared.bus.relay import Relay
from shared.db import Database
from shared.migrations import upgrade

SERVICES = tuple(topology.SUBSCRIPTIONS)


def vhost_of(url: str) -> str:
    return unquote(urlparse(url).path.lstrip("/"))


def rabbitmqctl_json(vhost: str, what: str, *columns: str) -> list[dict]:
    result = subprocess.run(["rabbitmqctl", "-q", what, "-p", vhost, *columns, "--formatter", "json"],
                            check=True, capture_output=True, text=True, timeout=60)
    return json.loads(result.stdout or "[]")


def arguments(entry: dict) -> dict:
    return {name: value for name, _type, value in entry["arguments"]}


def declare(url: str) -> None:
    with topology.connection_for(url) as connection:
        topology.declare(connection)


@pytest.fixture
def declared(rabbitmq_url):
    declare(rabbitmq_url)
    return rabbitmq_url


@pytest.fixture
def channel(declared):
    connection = pika.BlockingConnection(pika.URLParameters(declared))
    yield connection.channel()
    if connection.is_open:
        connection.close()


def depth(channel, queue: str) -> int:
    return channel.queue_declare(queue=queue, passive=True).method.message_count


def wait_for(condition, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


# -- what the broker holds after declare -------------------------------------------------------
def test_queues_exchanges_and_bindings_are_as_specified(declared):
    vhost = vhost_of(declared)
    queues = {q["name"]: q for q in rabbitmqctl_json(vhost, "list_queues", "name", "type", "durable", "arguments")}
    for service in SERVICES:
        main = queues[f"{service}.events"]
        assert main["type"] == "quorum" and main["durable"] is True
        assert arguments(main) | {"x-max-length": None} == {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": f"{service}.events.dlq",
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-max-length": None,
        }
        retry = queues[f"{service}.events.retry"]
        assert retry["type"] == "classic" and retry["durable"] is True
        assert arguments(retry) == {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": f"{service}.events"}
        dlq = queues[f"{service}.events.dlq"]
        assert dlq["type"] == "quorum" and dlq["durable"] is True
    unrouted = queues["clientloop.unrouted"]
    assert unrouted["durable"] is True and arguments(unrouted).get("x-max-length", 0) > 0

    exchanges = {e["name"]: e for e in rabbitmqctl_json(vhost, "list_exchanges", "name", "type", "durable", "arguments")}
    events = exchanges["clientloop.events"]
    assert (events["type"], events["durable"]) == ("topic", True)
    assert arguments(events) == {"alternate-exchange": "clientloop.unrouted"}
    assert (exchanges["clientloop.unrouted"]["type"], exchanges["clientloop.unrouted"]["durable"]) == ("fanout", True)

    bindings = defaultdict(set)
    for binding in rabbitmqctl_json(vhost, "list_bindings", "source_name", "destination_name", "routing_key"):
        if binding["source_name"]:
            bindings[(binding["source_name"], binding["destination_name"])].add(binding["routing_key"])
    for service in SERVICES:
        assert bindings[("clientloop.events", f"{service}.events")] == set(topology.SUBSCRIPTIONS[service])
        assert ("clientloop.events", f"{service}.events.retry") not in bindings   # only the default exchange
        assert ("clientloop.events", f"{service}.events.dlq") not in bindings
    assert ("clientloop.unrouted", "clientloop.unrouted") in bindings


def test_a_retried_message_returns_to_its_own_service_queue_only(channel):
    for service in SERVICES:
        assert depth(channel, f"{service}.events") == 0
    body = json.dumps({"specversion": "1.0", "id": str(uuid.uuid4())})
    channel.basic_publish(exchange="", routing_key="complaints.events.retry", body=body,
                          properties=pika.BasicProperties(expiration="150", delivery_mode=2,
                                                          content_type="application/cloudevents+json"))
    assert wait_for(lambda: depth(channel, "complaints.events") == 1)
    assert depth(channel, "complaints.events.retry") == 0
    method, _properties, received = channel.basic_get("complaints.events", auto_ack=True)
    assert received.decode() == body
    # survey also subscribes to client events, but never sees another service's retry
    assert depth(channel, "survey.events") == 0 and depth(channel, "registry.events") == 0
    assert depth(channel, "clientloop.unrouted") == 0


def test_a_message_waits_on_the_retry_queue_until_it_expires(channel):
    channel.basic_publish(exchange="", routing_key="survey.events.retry", body=b"{}",
                          properties=pika.BasicProperties(expiration="1500"))
    time.sleep(0.3)
    assert depth(channel, "survey.events.retry") == 1 and depth(channel, "survey.events") == 0
    assert wait_for(lambda: depth(channel, "survey.events") == 1, timeout=10)


def test_declaring_twice_is_harmless_and_keeps_messages(declared, channel):
    vhost = vhost_of(declared)
    channel.basic_publish(exchange="clientloop.events", routing_key="client.registered", body=b"{}")
    assert wait_for(lambda: depth(channel, "complaints.events") == 1)
    before = sorted(json.dumps(q, sort_keys=True)
                    for q in rabbitmqctl_json(vhost, "list_queues", "name", "type", "arguments"))
    declare(declared)
    declare(declared)
    after = sorted(json.dumps(q, sort_keys=True) for q in rabbitmqctl_json(vhost, "list_queues", "name", "type", "arguments"))
    assert after == before
    assert depth(channel, "complaints.events") == 1 and depth(channel, "survey.events") == 1


# -- the relay as two replicas on PostgreSQL --------------------------------------------------
@pytest.fixture
def outbox_db(postgres_url):
    upgrade("registry", postgres_url)
    database = Database(postgres_url)
    yield database
    database.dispose()


def write_events(database: Database, subjects: list[str], per_subject: int) -> None:
    """Events for every subject, written concurrently from several threads."""
    def write(subject: str) -> None:
        for _ in range(per_subject):
            with database.transaction() as session:
                record_event(session, platform, service="registry", event_type="client.archived",
                             subject=subject, data={"client_id": subject}, time=datetime.now(timezone.utc))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, subjects))


def unsent(database: Database) -> int:
    with database.transaction() as session:
        return session.execute(select(func.count()).select_from(platform.outbox)
                               .where(platform.outbox.c.sent_at.is_(None))).scalar_one()


def leader_pid(database: Database) -> int | None:
    with database.transaction() as session:
        return session.execute(text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")).scalar()


def test_two_relay_replicas_publish_each_event_once_in_order_per_subject(declared, channel, outbox_db):
    probe = "relay-probe"
    channel.queue_declare(queue=probe, durable=True)
    channel.queue_bind(queue=probe, exchange="clientloop.events", routing_key="#")

    stops = [threading.Event(), threading.Event()]
    relays = [Relay("registry", outbox_db, platform, declared, poll_s=0.05) for _ in stops]
    threads = [threading.Thread(target=relay.run, args=(stop,), daemon=True) for relay, stop in zip(relays, stops)]
    for thread in threads:
        thread.start()
    try:
        subjects = [str(uuid.uuid4()) for _ in range(5)]
        write_events(outbox_db, subjects, per_subject=12)
        assert wait_for(lambda: unsent(outbox_db) == 0, timeout=20)

        # stop the active replica: the standby takes over and publishes what follows
        assert wait_for(lambda: leader_pid(outbox_db) is not None)
        active = next(i for i, relay in enumerate(relays)
                      if relay._listener is not None and relay._listener.info.backend_pid == leader_pid(outbox_db))
        stops[active].set()
        threads[active].join(10)
        assert not threads[active].is_alive()
        write_events(outbox_db, subjects, per_subject=8)
        assert wait_for(lambda: unsent(outbox_db) == 0, timeout=20)
        standby = relays[1 - active]
        assert wait_for(lambda: leader_pid(outbox_db) == standby._listener.info.backend_pid)
    finally:
        for stop in stops:
            stop.set()
        for thread in threads:
            thread.join(10)

    assert wait_for(lambda: depth(channel, probe) == 100)
    received = []
    while True:
        method, _properties, body = channel.basic_get(probe, auto_ack=True)
        if method is None:
            break
        received.append(json.loads(body))
    ids = [event["id"] for event in received]
    assert len(ids) == 100 and len(set(ids)) == 100           # each event exactly once
    by_subject = defaultdict(list)
    for event in received:
        by_subject[event["subject"]].append(event["sequence"])
    for subject in subjects:
        assert by_subject[subject] == [str(n).zfill(20) for n in range(1, 21)], subject  # in order, no gap
