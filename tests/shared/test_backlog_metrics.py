"""``/metrics`` reports what waits in the service's database: events recorded and not yet
published (how many, and how long the oldest has waited) and webhook deliveries still to be made
or given up — read from the database, so any web process of the service reports what its relay
and webhook dispatcher have left, and unknown (NaN) while the database does not answer."""
from __future__ import annotations

import math
import re
import socket
import threading
from datetime import timedelta

import pytest

from services.complaints.app import build_context, create_app
from shared.bus import topology
from shared.bus.outbox import mark_sent, record_event
from shared.migrations import upgrade
from shared.web.health import BacklogProbe
from shared.webhooks.store import FAILED, create_endpoint, insert_deliveries, new_delivery
from tests.complaints.complaints_helpers import START, Clock

SERVICE = "complaints"


def _sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    found = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    assert found, f"{name}{{{wanted}}} not in /metrics"
    return float(found.group(1))


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request, settings):
    """The complaints app on SQLite and on PostgreSQL, its clock at ``START``, the backlog read
    afresh on every scrape."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        settings = settings.with_overrides(database_urls=dict(settings.database_urls, complaints=url))
    upgrade(SERVICE, settings.database_url(SERVICE))
    clock = Clock(START)
    ctx = build_context(settings, clock=clock)
    app = create_app(context=ctx)
    app.extensions["clientloop_backlog"].ttl_s = 0
    yield ctx, app.test_client(), clock
    ctx.database.dispose()


def _record(ctx, subject: str, at):
    with ctx.database.transaction() as session:
        return record_event(session, ctx.tables, service=SERVICE, event_type="complaint.opened",
                            subject=subject, data={"client_id": subject}, time=at)


def _outbox_ids(ctx) -> list[int]:
    from sqlalchemy import select
    with ctx.database.transaction() as session:
        return list(session.execute(select(ctx.tables.outbox.c.id)
                                    .where(ctx.tables.outbox.c.sent_at.is_(None))).scalars())


def test_unsent_events_and_the_oldest_ones_wait_are_reported_until_the_relay_sends_them(service):
    ctx, http, clock = service
    text = http.get("/metrics").get_data(as_text=True)
    assert _sample(text, "clientloop_outbox_unsent", service=SERVICE) == 0
    assert _sample(text, "clientloop_outbox_oldest_unsent_seconds", service=SERVICE) == 0

    _record(ctx, "client-1", START - timedelta(seconds=90))
    _record(ctx, "client-2", START - timedelta(seconds=30))
    text = http.get("/metrics").get_data(as_text=True)
    assert _sample(text, "clientloop_outbox_unsent", service=SERVICE) == 2
    assert _sample(text, "clientloop_outbox_oldest_unsent_seconds", service=SERVICE) == 90

    clock.advance(seconds=15)   # the wait grows with the service's clock
    oldest = min(_outbox_ids(ctx))
    text = http.get("/metrics").get_data(as_text=True)
    assert _sample(text, "clientloop_outbox_oldest_unsent_seconds", service=SERVICE) == 105

    with ctx.database.transaction() as session:
        mark_sent(session, ctx.tables, [oldest], clock())
    text = http.get("/metrics").get_data(as_text=True)
    assert _sample(text, "clientloop_outbox_unsent", service=SERVICE) == 1
    assert _sample(text, "clientloop_outbox_oldest_unsent_seconds", service=SERVICE) == 45

    with ctx.database.transaction() as session:
        mark_sent(session, ctx.tables, _outbox_ids(ctx), clock())
    text = http.get("/metrics").get_data(as_text=True)
    assert _sample(text, "clientloop_outbox_unsent", service=SERVICE) == 0
    assert _sample(text, "clientloop_outbox_oldest_unsent_seconds", service=SERVICE) == 0


def test_webhook_deliveries_still_to_make_and_given_up_are_counted_per_state(service):
    ctx, http, _clock = service
    with ctx.database.transaction() as session:
        endpoint = create_endpoint(session, ctx.tables, url="https://hooks.example.com/a",
                                   event_types=["complaint.*"], description=None, now=START)
        rows = [new_delivery(endpoint["id"], event_id=f"event-{number}",
                             event_type="complaint.opened", subject="client-1", body="{}",
                             now=START) for number in range(6)]
        rows[1]["status"] = rows[2]["status"] = FAILED
        rows[3]["status"] = rows[4]["status"] = "delivered"
        insert_deliveries(session, ctx.tables, rows)
    text = http.get("/metrics").get_data(as_text=True)
    assert _sample(text, "clientloop_webhook_deliveries", service=SERVICE, status="pending") == 2
    assert _sample(text, "clientloop_webhook_deliveries", service=SERVICE, status="failed") == 2
    assert 'status="delivered"' not in text   # delivered ones are history, not backlog


def test_the_backlog_is_unknown_while_the_database_does_not_answer(settings):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        urls = dict(settings.database_urls, complaints=f"postgresql://postgres@127.0.0.1:{port}/x")
        ctx = build_context(settings.with_overrides(database_urls=urls))
        try:
            answer = create_app(context=ctx).test_client().get("/metrics")
        finally:
            ctx.database.dispose()
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert math.isnan(_sample(text, "clientloop_outbox_unsent", service=SERVICE))
    assert math.isnan(_sample(text, "clientloop_outbox_oldest_unsent_seconds", service=SERVICE))
    assert math.isnan(_sample(text, "clientloop_webhook_deliveries", service=SERVICE, status="failed"))


def test_scrapes_share_one_read_every_few_seconds(monkeypatch):
    from shared.web import health
    calls = []

    def read(database, tables, now):
        calls.append(now)
        return health.Backlog(3, 12.0, {"pending": 1, "failed": 0})

    monkeypatch.setattr(health, "read_backlog", read)
    ticks = [100.0]
    results = []
    probe = BacklogProbe(object(), object(), now=lambda: START, ttl_s=5, clock=lambda: ticks[0],
                         on_result=results.append)
    threads = [threading.Thread(target=probe.check) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 1 and results[0].outbox_unsent == 3
    ticks[0] += 4.9
    assert probe.check().outbox_unsent == 3 and len(calls) == 1
    ticks[0] += 0.1
    probe.check()
    assert len(calls) == 2


@pytest.fixture(params=["filesystem", "rabbitmq"])
def bus_url(request, tmp_path):
    if request.param == "rabbitmq":
        return request.getfixturevalue("rabbitmq_url")
    return f"filesystem://{tmp_path / 'bus'}"


def _publish(url: str, queue: str, count: int) -> None:
    with topology.connection_for(url) as connection:
        producer = connection.Producer()
        for number in range(count):
            producer.publish({"number": number}, exchange="", routing_key=queue, serializer="json")


def test_messages_waiting_in_the_services_queues_are_counted_by_queue(settings, bus_url):
    upgrade(SERVICE, settings.database_url(SERVICE))
    ctx = build_context(settings.with_overrides(broker_url=bus_url), clock=Clock(START))
    app = create_app(context=ctx)
    app.extensions["clientloop_broker"].ttl_s = 0
    http = app.test_client()
    try:
        if topology.is_amqp(bus_url):   # not declared yet: unknown, and nothing is created
            text = http.get("/metrics").get_data(as_text=True)
            assert _sample(text, "clientloop_broker_up", service=SERVICE) == 1
            assert math.isnan(_sample(text, "clientloop_bus_messages", service=SERVICE, queue="events"))
        with topology.connection_for(bus_url) as connection:
            topology.declare(connection)
        _publish(bus_url, topology.queue_name(SERVICE), 3)
        _publish(bus_url, topology.dlq_name(SERVICE), 2)
        _publish(bus_url, topology.queue_name("registry"), 4)   # another service's queue
        text = http.get("/metrics").get_data(as_text=True)
        assert _sample(text, "clientloop_bus_messages", service=SERVICE, queue="events") == 3
        assert _sample(text, "clientloop_bus_messages", service=SERVICE, queue="retry") == 0
        assert _sample(text, "clientloop_bus_messages", service=SERVICE, queue="dead_letter") == 2
    finally:
        ctx.database.dispose()


def test_queue_depths_are_unknown_while_the_broker_is_down(settings):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"amqp://guest:guest@127.0.0.1:{closed.getsockname()[1]}/"
        upgrade(SERVICE, settings.database_url(SERVICE))
        ctx = build_context(settings.with_overrides(broker_url=url))
        try:
            text = create_app(context=ctx).test_client().get("/metrics").get_data(as_text=True)
        finally:
            ctx.database.dispose()
    assert _sample(text, "clientloop_broker_up", service=SERVICE) == 0
    for queue in ("events", "retry", "dead_letter"):
        assert math.isnan(_sample(text, "clientloop_bus_messages", service=SERVICE, queue=queue))
