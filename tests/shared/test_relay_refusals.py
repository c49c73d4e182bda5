"""The relay when RabbitMQ refuses one message: other subjects go on, the refused subject keeps
its order, and each failed publish is counted on its outbox row.

A queue that can hold nothing (``x-max-length`` 0, ``x-overflow`` ``reject-publish``) is bound to
``client.updated``, so the broker answers every such publish with a negative confirm. Subject A
has a ``client.updated`` and then a ``client.archived``; subject B, written after A, a
``client.archived`` and a ``client.value.changed``. B's events are published, A's wait in order
with ``attempts`` and ``last_error`` recorded; once the full queue is gone, A's events go out,
the refused one first.
"""
from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone

import pika
import pytest
from sqlalchemy import select

from services.registry.adapters.orm import platform
from shared.bus import topology
from shared.bus.outbox import record_event
from shared.bus.relay import Relay
from shared.db import Database
from shared.migrations import upgrade

REFUSED = "client.updated"
FULL_QUEUE = "test.full"


@pytest.fixture
def database(postgres_url):
    upgrade("registry", postgres_url)
    db = Database(postgres_url)
    yield db
    db.dispose()


@pytest.fixture
def channel(rabbitmq_url):
    with topology.connection_for(rabbitmq_url) as connection:
        topology.declare(connection)
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    channel = connection.channel()
    channel.queue_declare(FULL_QUEUE, durable=True,
                          arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
    channel.queue_bind(FULL_QUEUE, topology.EXCHANGE_NAME, routing_key=REFUSED)
    yield channel
    if connection.is_open:
        connection.close()


def write(database: Database, subject: str, event_type: str) -> str:
    with database.transaction() as session:
        envelope = record_event(session, platform, service="registry", event_type=event_type,
                                subject=subject, data={"client": {"id": subject}},
                                time=datetime.now(timezone.utc))
    return envelope["id"]


def outbox_rows(database: Database) -> dict[str, dict]:
    table = platform.outbox
    with database.transaction() as session:
        rows = session.execute(select(table.c.event_id, table.c.sent_at, table.c.attempts,
                                      table.c.last_error).order_by(table.c.id)).all()
    return {row.event_id: row._asdict() for row in rows}


def received(channel, queue: str) -> list[dict]:
    """Everything on ``queue``, taken off it, in queue order."""
    messages = []
    while True:
        method, _properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return messages
        messages.append(json.loads(body))


def test_a_refused_publish_holds_only_its_subject_in_order_and_records_each_attempt(
        database, channel, rabbitmq_url):
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    a_refused = write(database, a, REFUSED)
    a_later = write(database, a, "client.archived")
    b_first = write(database, b, "client.archived")
    b_second = write(database, b, "client.value.changed")
    relay = Relay("registry", database, platform, rabbitmq_url, hold_backoff_s=(0.3, 0.3))
    try:
        assert relay.publish_pending() == 2            # B's two, not A's
        rows = outbox_rows(database)
        assert rows[b_first]["sent_at"] is not None and rows[b_second]["sent_at"] is not None
        assert rows[a_refused]["sent_at"] is None and rows[a_later]["sent_at"] is None
        assert rows[a_refused]["attempts"] == 1
        assert "nack" in rows[a_refused]["last_error"].lower()
        assert (rows[a_later]["attempts"], rows[a_later]["last_error"]) == (0, None)  # never tried

        assert relay.publish_pending() == 0            # still held: not even tried again
        assert outbox_rows(database)[a_refused]["attempts"] == 1
        time.sleep(0.35)
        assert relay.publish_pending() == 0            # tried again first, refused again
        rows = outbox_rows(database)
        assert rows[a_refused]["attempts"] == 2 and rows[a_later]["attempts"] == 0
        assert rows[a_later]["sent_at"] is None

        channel.queue_delete(FULL_QUEUE)               # the full queue is gone
        time.sleep(0.35)
        assert relay.publish_pending() == 2
        rows = outbox_rows(database)
        assert all(row["sent_at"] is not None for row in rows.values())
        assert rows[a_refused]["attempts"] == 2 and rows[a_later]["attempts"] == 0
    finally:
        relay.close()

    # survey.events subscribes to all three types. A refused publish may still have reached it
    # (RabbitMQ nacks when any queue refused), so A's refused event may appear more than once:
    # what matters is that A's later event comes after the last of them, and B's are all there.
    messages = received(channel, "survey.events")
    of_a = [message["id"] for message in messages if message["subject"] == a]
    assert of_a[-1] == a_later and set(of_a[:-1]) == {a_refused}
    assert [message["id"] for message in messages if message["subject"] == b] == [b_first, b_second]


def test_a_publish_failing_because_the_broker_is_down_is_recorded_and_stops_the_pass(settings):
    from kombu.exceptions import OperationalError

    from tests.shared.bus_helpers import register, registry_context, relay_for
    ctx = registry_context(settings)
    register(ctx, "First")
    register(ctx, "Second")
    relay = relay_for(ctx)
    tried = []

    def broker_down(row):
        tried.append(row.event_id)
        raise OperationalError("[Errno 111] Connection refused")

    relay._publish_once = broker_down
    with pytest.raises(OperationalError):
        relay.publish_pending()
    rows = list(outbox_rows(ctx.database).values())
    assert len(tried) == 1                              # the pass stopped at the first row
    assert [row["attempts"] for row in rows] == [1, 0]
    assert rows[0]["last_error"] == "OperationalError: [Errno 111] Connection refused"
    assert all(row["sent_at"] is None for row in rows)
    del relay._publish_once                             # the broker is back
    assert relay.publish_pending() == 2
    relay.close()
    ctx.database.dispose()
