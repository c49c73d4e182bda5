"""The relay publishes a subject's events in order even when rows commit out of id order.

Outbox ids are taken at insert, rows become visible at commit. Transaction X writes subject S's
first event (id 1) and stays open; transaction Y writes another subject's event (id 2) and
commits; X writes S's second event (id 3) and commits while the relay is in the middle of a
pass, right after it published Y's row. The next batch of that pass must start again from the
oldest unsent row (S's first event), not carry on after the last id it saw — or S's second
event goes out before its first (the fault suite found this under load: a registry
``client.value.changed`` before the ``client.satisfaction.changed`` of the same transaction).
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pika
import pytest

from services.registry.adapters.orm import platform
from shared.bus import topology
from shared.bus.outbox import record_event
from shared.bus.relay import Relay
from shared.db import Database
from shared.migrations import upgrade

TAP = "test.tap"


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
    channel.queue_declare(TAP, durable=True)
    channel.queue_bind(TAP, topology.EXCHANGE_NAME, routing_key="#")
    yield channel
    if connection.is_open:
        connection.close()


def write(session, subject: str, event_type: str) -> str:
    return record_event(session, platform, service="registry", event_type=event_type,
                        subject=subject, data={"client_id": subject},
                        time=datetime.now(timezone.utc))["id"]


class CommitDuringPass(Relay):
    """A relay that lets a waiting transaction commit right after its first batch."""

    def __init__(self, *args, commit, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._commit = commit

    def _mark_sent(self, ids):
        super()._mark_sent(ids)
        if self._commit is not None:
            commit, self._commit = self._commit, None
            commit()


def test_rows_committed_out_of_id_order_keep_their_subjects_order(database, channel, rabbitmq_url):
    s, other = str(uuid.uuid4()), str(uuid.uuid4())
    x = database.sessions()
    x.begin()
    s_first = write(x, s, "client.satisfaction.changed")     # id 1, not committed yet
    with database.transaction() as y:
        other_event = write(y, other, "client.archived")       # id 2, committed
    s_second = write(x, s, "client.value.changed")           # id 3, same transaction as id 1
    relay = CommitDuringPass("registry", database, platform, rabbitmq_url, batch_size=1,
                             commit=x.commit)
    try:
        published = relay.publish_pending()
        published += relay.publish_pending()
    finally:
        relay.close()
        x.close()
    assert published == 3
    order = []
    while True:
        method, _properties, body = channel.basic_get(TAP, auto_ack=True)
        if method is None:
            break
        order.append(json.loads(body)["id"])
    assert order.index(other_event) == 0
    assert [event for event in order if event != other_event] == [s_first, s_second]
