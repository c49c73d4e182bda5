"""The bus on its two transports: real RabbitMQ (production) and the embedded filesystem bus.

Each test runs against both, with the registry's database (PostgreSQL for RabbitMQ, SQLite
for the embedded bus) as the source of events and a consumer for ``complaints.events``
(which subscribes to ``client.registered``) as the receiving side.
"""
from __future__ import annotations

import pytest
from kombu import Queue
from sqlalchemy import func, select

from services.registry.adapters.orm import ClientRecord, platform
from shared.bus import topology
from shared.bus.consumer import EventConsumer
from shared.bus.dlq import list_dead_letters, replay
from shared.db import Database
from shared.migrations import upgrade
from tests.shared.bus_helpers import register, registry_context, relay_for, running, wait_for


@pytest.fixture(params=["rabbitmq", "embedded"])
def bus_settings(request, settings, tmp_path):
    if request.param == "rabbitmq":
        broker = request.getfixturevalue("rabbitmq_url")
        database = request.getfixturevalue("postgres_url")
        return settings.with_overrides(broker_url=broker,
                                       database_urls={**settings.database_urls, "registry": database})
    return settings


@pytest.fixture
def ctx(bus_settings):
    context = registry_context(bus_settings)
    yield context
    context.database.dispose()


@pytest.fixture
def receiver_db(tmp_path):
    """The receiving service's own database (inbox table included)."""
    url = f"sqlite:///{tmp_path / 'receiver.db'}"
    upgrade("registry", url)
    database = Database(url)
    yield database
    database.dispose()


def probe_messages(broker_url: str, queue_name: str) -> list:
    """Everything currently on ``queue_name``, acknowledged (consumed) by the probe."""
    messages = []
    with topology.connection_for(broker_url) as connection:
        topology.declare(connection)
        queue = Queue(queue_name)(connection.default_channel)
        while True:
            message = queue.get(no_ack=True, accept=["cloudevents", "json"])
            if message is None:
                return messages
            messages.append(message.decode())


def consumer(ctx, receiver_db, handler, delays=(0.05, 0.1)) -> EventConsumer:
    return EventConsumer("complaints", receiver_db, platform, ctx.settings.broker_url,
                         {"client.registered": handler}, retry_delays_s=delays)


def test_a_committed_change_publishes_exactly_one_event(ctx):
    with topology.connection_for(ctx.settings.broker_url) as connection:
        topology.declare(connection)
    client = register(ctx, "Committed Ltd")
    assert relay_for(ctx).publish_pending() == 1
    assert relay_for(ctx).publish_pending() == 0
    received = probe_messages(ctx.settings.broker_url, "complaints.events")
    assert [(m["type"], m["subject"]) for m in received] == [("clientloop.client.registered.v1", client.id)]
    assert received[0]["data"]["client"]["name"] == "Committed Ltd"
    assert received[0]["sequence"] == "1".zfill(20)


def test_a_rolled_back_change_publishes_nothing(ctx):
    with pytest.raises(RuntimeError):
        with ctx.database.transaction() as session:
            from services.registry import service
            service.register_client(session, {"name": "Never", "kind": "external", "category": "enterprise"},
                                    now=ctx.clock(), rules=ctx.extras["rules"])
            raise RuntimeError("the request failed after the change")
    with ctx.database.transaction() as session:
        assert session.execute(select(func.count()).select_from(ClientRecord)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(platform.outbox)).scalar_one() == 0
    assert relay_for(ctx).publish_pending() == 0
    assert probe_messages(ctx.settings.broker_url, "complaints.events") == []


def test_sequence_increases_per_subject(ctx):
    from services.registry import service
    client = register(ctx, "Seq")
    with ctx.database.transaction() as session:
        service.update_client(session, client.id, {"name": "Seq 2"}, expected_version=None,
                              now=ctx.clock(), rules=ctx.extras["rules"])
    other = register(ctx, "Other")
    relay_for(ctx).publish_pending()
    received = probe_messages(ctx.settings.broker_url, "complaints.events")
    by_subject = {}
    for message in received:
        by_subject.setdefault(message["subject"], []).append(message["sequence"])
    assert by_subject[client.id] == ["1".zfill(20), "2".zfill(20)]
    assert by_subject[other.id] == ["1".zfill(20)]


def test_a_relay_killed_before_marking_sent_republishes_and_the_consumer_applies_once(ctx, receiver_db):
    client = register(ctx, "Twice Published")
    crashing = relay_for(ctx)

    def crash(_ids):
        raise SystemExit("killed between publish and mark-sent")

    crashing._mark_sent = crash
    with topology.connection_for(ctx.settings.broker_url) as connection:
        topology.declare(connection)
    with pytest.raises(SystemExit):
        crashing.publish_pending()
    crashing.close()
    assert relay_for(ctx).publish_pending() == 1  # still unsent: published again

    applied = []
    receiver = consumer(ctx, receiver_db, lambda session, event: applied.append(event.subject))
    with running(receiver):
        assert wait_for(lambda: receiver.applied + receiver.skipped == 2)
    assert applied == [client.id]
    assert (receiver.applied, receiver.skipped) == (1, 1)
    with receiver_db.transaction() as session:
        assert session.execute(select(func.count()).select_from(platform.inbox)).scalar_one() == 1


def test_a_failing_handler_ends_in_the_dlq_while_later_events_flow_and_replay_redelivers(ctx, receiver_db):
    poison = register(ctx, "Poison")
    healthy = register(ctx, "Healthy")
    broken = {"on": True}
    applied = []

    def handler(session, event):
        if event.subject == poison.id and broken["on"]:
            raise ValueError("cannot apply this one")
        applied.append(event.subject)

    receiver = consumer(ctx, receiver_db, handler)
    relay_for(ctx).publish_pending()
    with running(receiver):
        assert wait_for(lambda: healthy.id in applied)
        assert wait_for(lambda: len(list_dead_letters(ctx.settings.broker_url, "complaints")) == 1)
    letters = list_dead_letters(ctx.settings.broker_url, "complaints")
    assert [letter.subject for letter in letters] == [poison.id]
    assert letters[0].event_type == "clientloop.client.registered.v1"
    assert applied == [healthy.id]

    broken["on"] = False
    assert replay(ctx.settings.broker_url, "complaints") == [letters[0].event_id]
    with running(receiver):
        assert wait_for(lambda: poison.id in applied)
    assert list_dead_letters(ctx.settings.broker_url, "complaints") == []
    assert applied == [healthy.id, poison.id]


def test_replay_of_named_ids_leaves_the_others_on_the_dlq(ctx, receiver_db):
    first, second = register(ctx, "One"), register(ctx, "Two")

    def always_fails(session, event):
        raise ValueError("down")

    receiver = consumer(ctx, receiver_db, always_fails, delays=(0.05,))
    relay_for(ctx).publish_pending()
    with running(receiver):
        assert wait_for(lambda: len(list_dead_letters(ctx.settings.broker_url, "complaints")) == 2)
    letters = {letter.subject: letter.event_id for letter in list_dead_letters(ctx.settings.broker_url, "complaints")}
    assert replay(ctx.settings.broker_url, "complaints", [letters[first.id]]) == [letters[first.id]]
    remaining = list_dead_letters(ctx.settings.broker_url, "complaints")
    assert [letter.subject for letter in remaining] == [second.id]


def test_an_event_published_as_plain_json_without_a_content_type_is_applied(ctx, receiver_db):
    """Outside publishers (pika, other languages) may send the CloudEvent without Kombu's
    content type; the consumer still reads it."""
    import json as _json

    from kombu import Producer

    from shared.bus.envelope import build_envelope
    client_id = "6d1c8a52-3f8e-4d6c-9a55-0b7f2c1d9e11"
    envelope = build_envelope(service="registry", event_type="client.registered", subject=client_id,
                              data={"client": {"id": client_id}}, time=ctx.clock(), sequence=1)
    with topology.connection_for(ctx.settings.broker_url) as connection:
        topology.declare(connection)
        Producer(connection.default_channel).publish(
            _json.dumps(envelope).encode(), exchange=topology.EXCHANGE_NAME,
            routing_key="client.registered", content_type="application/octet-stream",
            content_encoding="binary", declare=[])
    applied = []
    receiver = consumer(ctx, receiver_db, lambda session, event: applied.append(event.id))
    with running(receiver):
        assert wait_for(lambda: applied == [envelope["id"]])


def test_a_message_of_an_unknown_content_type_goes_to_the_dlq_and_later_ones_flow(ctx, receiver_db):
    from kombu import Producer
    poison_id = "not-an-event"
    with topology.connection_for(ctx.settings.broker_url) as connection:
        topology.declare(connection)
        Producer(connection.default_channel).publish(
            b"<xml>not a cloud event</xml>", exchange=topology.EXCHANGE_NAME,
            routing_key="client.registered", content_type="application/xml",
            content_encoding="utf-8", declare=[], message_id=poison_id)
    healthy = register(ctx, "After The Poison")
    relay_for(ctx).publish_pending()
    applied = []
    receiver = consumer(ctx, receiver_db, lambda session, event: applied.append(event.subject))
    with running(receiver):
        assert wait_for(lambda: applied == [healthy.id])
        assert wait_for(lambda: len(list_dead_letters(ctx.settings.broker_url, "complaints")) == 1)


def test_on_postgresql_a_commit_wakes_the_relay_at_once_not_at_its_next_poll(rabbitmq_url, postgres_url, settings):
    import threading
    import time

    from shared.bus.relay import Relay
    configured = settings.with_overrides(broker_url=rabbitmq_url,
                                         database_urls={**settings.database_urls, "registry": postgres_url})
    ctx = registry_context(configured)
    relay = Relay("registry", ctx.database, platform, rabbitmq_url, poll_s=30.0)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: relay._listener is not None, timeout=10)
        time.sleep(0.3)  # the relay is now waiting on LISTEN with a 30 s poll
        started = time.monotonic()
        client = register(ctx, "Woken")
        received = []
        assert wait_for(lambda: received.extend(probe_messages(rabbitmq_url, "complaints.events")) or received,
                        timeout=10)
        assert time.monotonic() - started < 5  # far below the 30 s poll: NOTIFY woke it
        assert received[0]["subject"] == client.id
    finally:
        stop.set()
        thread.join(10)
        ctx.database.dispose()


def test_concurrent_first_declarations_on_the_embedded_bus_keep_every_binding(tmp_path):
    """``clientloop up`` starts six workers that declare the topology at the same moment."""
    import json as _json
    import threading

    broker = f"filesystem://{tmp_path / 'bus'}"
    errors = []
    start = threading.Barrier(8)

    def declare_once():
        try:
            with topology.connection_for(broker) as connection:
                start.wait()
                topology.declare(connection)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=declare_once) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    table = _json.loads((tmp_path / "bus" / "control" / "clientloop.events.exchange").read_text())
    bound = {(routing_key, queue) for routing_key, _pattern, queue in table}
    expected = {(key, topology.queue_name(service))
                for service, keys in topology.SUBSCRIPTIONS.items() for key in keys}
    assert bound == expected


def test_embedded_the_relay_marks_a_pass_sent_in_one_statement_in_autocommit(settings):
    """On SQLite the relay's mark is one ``UPDATE`` on its own connection, with no ``BEGIN`` or
    ``COMMIT`` around it: SQLite's write lock is held for that statement alone. What it stores
    reads back as the relay's clock, as the ORM would have written it."""
    from datetime import datetime, timezone

    from shared.bus.relay import Relay
    from shared.clock import as_utc
    from shared.driver_db import sqlite_alone
    ctx = registry_context(settings)
    try:
        assert ctx.database.dialect == "sqlite"
        with topology.connection_for(ctx.settings.broker_url) as connection:
            topology.declare(connection)
        for number in range(3):
            register(ctx, f"Marked {number}")
        at = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=timezone.utc)
        relay = Relay("registry", ctx.database, platform, ctx.settings.broker_url, poll_s=0.05,
                      batch_size=2, clock=lambda: at)
        relay._mark_sent([])          # opens the connection the marks use, marking nothing
        statements: list[str] = []
        for raw in sqlite_alone(ctx.database)._idle:
            raw.set_trace_callback(statements.append)
        assert relay.publish_pending() == 3          # two passes' batches: 2, then 1
        marks = [" ".join(sql.split()) for sql in statements]
        assert len(marks) == 2 and all(sql.startswith("UPDATE outbox SET sent_at") for sql in marks)
        table = platform.outbox
        with ctx.database.transaction() as session:
            sent = session.execute(select(table.c.sent_at)).scalars().all()
        assert len(sent) == 3 and {as_utc(value) for value in sent} == {at}
        with ctx.database.engine.connect() as connection:   # stored as SQLAlchemy stores it
            assert connection.exec_driver_sql(
                "SELECT DISTINCT typeof(sent_at), sent_at FROM outbox").all() == \
                [("text", "2026-05-04 03:02:01.123456")]
        assert relay.publish_pending() == 0
    finally:
        ctx.database.dispose()
