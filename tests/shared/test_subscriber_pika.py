"""An outside system subscribes with another AMQP client (pika, not Kombu) on real RabbitMQ.

It binds its own queue to ``clientloop.events`` as ``examples/subscriber.py`` (and
``docs/events.md``) show, a client is registered through the registry's API on PostgreSQL and
the relay publishes the outbox: the subscriber receives ``client.registered`` as a CloudEvent
whose envelope and ``data`` validate against the published schemas. An event no one subscribes
to is kept in ``clientloop.unrouted`` instead of being dropped.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

import pika
import pytest

from services.registry.adapters.orm import platform
from shared.bus import topology
from shared.bus.outbox import record_event
from shared.bus.relay import Relay
from shared.events import CE_CONTENT_TYPE, validate_data, validate_envelope
from shared.migrations import upgrade
from tests.conftest import auth, make_token

ROOT = Path(__file__).resolve().parents[2]


def load_example():
    spec = importlib.util.spec_from_file_location("clientloop_example_subscriber", ROOT / "examples" / "subscriber.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = load_example()


@pytest.fixture
def bus_settings(settings, rabbitmq_url, postgres_url):
    return settings.with_overrides(broker_url=rabbitmq_url,
                                   database_urls={**settings.database_urls, "registry": postgres_url})


@pytest.fixture
def registry(bus_settings):
    from services.registry.app import build_context, create_app
    upgrade("registry", bus_settings.database_url("registry"))
    ctx = build_context(bus_settings)
    yield ctx, create_app(context=ctx)
    ctx.database.dispose()


@pytest.fixture
def pika_channel(rabbitmq_url):
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    yield connection.channel()
    if connection.is_open:
        connection.close()


def declare_topology(broker_url: str) -> None:
    with topology.connection_for(broker_url) as connection:
        topology.declare(connection)


def relay(ctx) -> int:
    publisher = Relay("registry", ctx.database, ctx.tables, ctx.settings.broker_url)
    try:
        return publisher.publish_pending()
    finally:
        publisher.close()


def get_one(channel, queue: str, timeout: float = 10.0):
    """The next message on ``queue`` (acknowledged), waiting up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue=queue, auto_ack=True)
        if method is not None:
            return method, properties, body
        time.sleep(0.05)
    raise AssertionError(f"nothing arrived on {queue} within {timeout} s")


def queue_depth(channel, queue: str) -> int:
    return channel.queue_declare(queue=queue, passive=True).method.message_count


def register_client(app, settings) -> dict:
    response = app.test_client().post(
        "/api/v1/clients", headers=auth(make_token(settings, "staff", "Wang Fang")),
        json={"name": "华为技术 Huawei", "kind": "external", "category": "enterprise", "tags": ["vip"],
              "owner": "Wang Fang", "contacts": [{"name": "Li Lei", "email": "li.lei@huawei.example"}]})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def test_a_pika_subscriber_receives_client_registered_as_a_valid_cloudevent(registry, pika_channel):
    ctx, app = registry
    declare_topology(ctx.settings.broker_url)
    queue = "crm-sync.clientloop"
    example.bind_queue(pika_channel, queue, ["client.#"])

    client = register_client(app, ctx.settings)
    assert relay(ctx) == 1

    method, properties, body = get_one(pika_channel, queue)
    assert method.routing_key == "client.registered"
    assert method.exchange == "clientloop.events"
    assert properties.content_type == CE_CONTENT_TYPE
    assert properties.delivery_mode == 2  # persistent
    event = example.parse_event(body)
    assert properties.message_id == event["id"]
    assert example.event_name(event) == "client.registered"
    assert event["type"] == "clientloop.client.registered.v1"
    assert event["source"] == "clientloop/registry"
    assert event["subject"] == client["id"]
    assert event["sequence"] == "1".zfill(20)
    assert event["datacontenttype"] == "application/json"
    assert event["data"]["client"]["id"] == client["id"]
    assert event["data"]["client"]["name"] == "华为技术 Huawei"
    assert event["data"]["client"]["contacts"] == [{"name": "Li Lei", "email": "li.lei@huawei.example"}]
    validate_envelope(event)                       # the project's own catalogue
    validate_data("client.registered", event["data"])
    assert example.SchemaValidator(example.DEFAULT_SCHEMA_DIR).problems(event) == []  # the published files
    assert queue_depth(pika_channel, queue) == 0   # exactly one event for one change


def test_only_the_patterns_bound_reach_the_outside_queue(registry, pika_channel):
    ctx, app = registry
    declare_topology(ctx.settings.broker_url)
    queue = "archive-watcher.clientloop"
    example.bind_queue(pika_channel, queue, ["client.archived"])
    client = register_client(app, ctx.settings)
    staff = auth(make_token(ctx.settings, "staff"))
    assert app.test_client().delete(f"/api/v1/clients/{client['id']}", headers=staff).status_code == 200
    assert relay(ctx) == 2
    _method, _properties, body = get_one(pika_channel, queue)
    event = example.parse_event(body)
    assert event["type"] == "clientloop.client.archived.v1" and event["data"] == {"client_id": client["id"]}
    validate_envelope(event)
    assert queue_depth(pika_channel, queue) == 0


def test_an_event_nobody_subscribes_to_is_kept_in_clientloop_unrouted(registry, pika_channel):
    ctx, app = registry
    declare_topology(ctx.settings.broker_url)
    assert "client.followup.due" not in {t for types in topology.SUBSCRIPTIONS.values() for t in types}
    client_id = str(uuid.uuid4())
    data = {"client_id": client_id, "due_on": date(2026, 3, 2).isoformat(), "owner": "Wang Fang",
            "channel": "phone"}
    validate_data("client.followup.due", data)
    with ctx.database.transaction() as session:
        envelope = record_event(session, platform, service="registry", event_type="client.followup.due",
                                subject=client_id, data=data, time=datetime.now(timezone.utc))
    register_client(app, ctx.settings)  # subscribed to by survey and complaints: routed, not kept
    assert relay(ctx) == 2

    _method, properties, body = get_one(pika_channel, topology.UNROUTED_NAME)
    event = example.parse_event(body)
    assert event["id"] == envelope["id"] and event["type"] == "clientloop.client.followup.due.v1"
    assert properties.content_type == CE_CONTENT_TYPE
    validate_envelope(event)
    assert queue_depth(pika_channel, topology.UNROUTED_NAME) == 0
    assert queue_depth(pika_channel, "complaints.events") == 1
    assert queue_depth(pika_channel, "survey.events") == 1
    assert queue_depth(pika_channel, "registry.events") == 0


def test_the_example_subscriber_script_prints_and_validates_the_event(registry, tmp_path):
    ctx, app = registry
    declare_topology(ctx.settings.broker_url)
    output = tmp_path / "subscriber.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / "subscriber.py"), "--url", ctx.settings.broker_url,
             "--queue", "printer.clientloop", "--bind", "client.#", "--count", "1", "--validate"],
            stdout=out, stderr=subprocess.PIPE, cwd=ROOT)
        try:
            waiting = process.stderr.readline().decode()   # "Waiting for events …": the queue is bound
            assert "Waiting for events" in waiting, waiting + process.stderr.read().decode()
            client = register_client(app, ctx.settings)
            assert relay(ctx) == 1
            assert process.wait(20) == 0, process.stderr.read().decode()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    printed = output.read_text(encoding="utf-8")
    assert printed.startswith(f"clientloop.client.registered.v1 subject={client['id']} sequence={'1'.zfill(20)}")
    assert "华为技术 Huawei" in printed
