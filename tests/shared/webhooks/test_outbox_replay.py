"""``clientloop outbox replay SERVICE --since TIME [--type PATTERN] (--queue NAME | --webhook ID)``:
retained outbox rows go again, with their original ids, bodies and per-subject order, to one new
queue (real RabbitMQ, and the embedded bus) or to one webhook endpoint."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from kombu import Queue
from sqlalchemy import select

from services.registry.adapters.orm import platform
from shared.bus import topology
from shared.bus.outbox import mark_sent, record_event
from shared.bus.replay import parse_since
from shared.cli import main
from shared.db import Database
from shared.migrations import upgrade
from shared.webhooks import store
from tests.conftest import TEST_SECRET

SUBJECTS = [f"00000000-0000-4000-8000-{index:012d}" for index in range(7)]
TYPES = ("client.updated", "client.value.changed", "requirement.created")
LATE_QUEUE = "late.subscriber"


@pytest.fixture(params=["rabbitmq", "embedded"])
def bus(request, tmp_path, monkeypatch):
    """(broker URL, registry database URL), set in the environment the command line reads."""
    if request.param == "rabbitmq":
        broker = request.getfixturevalue("rabbitmq_url")
        database = request.getfixturevalue("postgres_url")
    else:
        broker = f"filesystem://{tmp_path / 'bus'}"
        database = f"sqlite:///{tmp_path / 'registry.db'}"
    monkeypatch.setenv("CLIENTLOOP_BROKER_URL", broker)
    monkeypatch.setenv("CLIENTLOOP_REGISTRY_DATABASE_URL", database)
    monkeypatch.setenv("CLIENTLOOP_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("CLIENTLOOP_DATA_DIR", str(tmp_path / "data"))
    upgrade("registry", database)
    return broker, database


def record(database_url: str, count: int, *, at: datetime, sent: bool = True) -> list[str]:
    """``count`` events over the subjects, round robin, as the registry would record them."""
    database = Database(database_url)
    try:
        with database.transaction() as session:
            for index in range(count):
                record_event(session, platform, service="registry", event_type=TYPES[index % 3],
                             subject=SUBJECTS[index % len(SUBJECTS)], data={"n": index},
                             time=at + timedelta(milliseconds=index))
        with database.transaction() as session:
            rows = session.execute(select(platform.outbox.c.id, platform.outbox.c.event_id)
                                   .order_by(platform.outbox.c.id)).all()
            if sent:
                mark_sent(session, platform, [row.id for row in rows], at)
        return [row.event_id for row in rows]
    finally:
        database.dispose()


def outbox_rows(database_url: str) -> list:
    database = Database(database_url)
    try:
        with database.transaction() as session:
            return session.execute(select(platform.outbox).order_by(platform.outbox.c.id)).all()
    finally:
        database.dispose()


def declare_queue(broker: str, name: str) -> None:
    """The bus as the services declare it, and one new queue bound to nothing."""
    with topology.connection_for(broker) as connection:
        topology.declare(connection)
        Queue(name, durable=True)(connection.default_channel).declare()


def drain(broker: str, name: str) -> list:
    """Every message on ``name``: (raw body text, message id, content type, decoded envelope)."""
    taken = []
    with topology.connection_for(broker) as connection:
        queue = Queue(name, durable=True)(connection.default_channel)
        while True:
            message = queue.get(no_ack=True, accept=["cloudevents", "json"])
            if message is None:
                return taken
            raw = message.body.decode() if isinstance(message.body, bytes) else message.body
            taken.append((raw, message.properties.get("message_id"), message.content_type,
                          message.decode()))


def test_a_new_queue_receives_every_retained_event_with_its_id_body_and_order(bus, capsys):
    broker, database = bus
    now = datetime.now(timezone.utc)
    record(database, 200, at=now - timedelta(hours=1))
    declare_queue(broker, LATE_QUEUE)
    assert main(["outbox", "replay", "registry", "--since", "2h", "--queue", LATE_QUEUE]) == 0
    assert "200 event(s)" in capsys.readouterr().out
    received = drain(broker, LATE_QUEUE)
    rows = outbox_rows(database)
    assert len(received) == 200
    assert [message_id for _raw, message_id, _type, _env in received] == [row.event_id for row in rows]
    assert [raw for raw, *_ in received] == [row.body for row in rows]  # the bodies, byte for byte
    assert {content_type for _raw, _id, content_type, _env in received} == {"application/cloudevents+json"}
    last: dict[str, int] = {}
    for _raw, _id, _type, envelope in received:
        sequence = int(envelope["sequence"])
        assert sequence > last.get(envelope["subject"], 0)
        last[envelope["subject"]] = sequence
    assert set(last) == set(SUBJECTS)
    assert drain(broker, "complaints.events") == []  # nobody else gets them again


def test_since_and_type_choose_the_events(bus, capsys):
    broker, database = bus
    now = datetime.now(timezone.utc)
    record(database, 30, at=now - timedelta(days=10))
    recent = record(database, 60, at=now - timedelta(hours=1))[30:]
    declare_queue(broker, LATE_QUEUE)
    since = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert main(["outbox", "replay", "registry", "--since", since, "--type", "client.*",
                 "--queue", LATE_QUEUE]) == 0
    received = drain(broker, LATE_QUEUE)
    wanted = [row.event_id for row in outbox_rows(database)
              if row.event_id in recent and row.event_type.startswith("client.")]
    assert [message_id for _raw, message_id, *_ in received] == wanted and len(wanted) == 40
    assert "40 event(s)" in capsys.readouterr().out


def test_a_type_pattern_of_another_service_is_refused(bus, capsys):
    assert main(["outbox", "replay", "registry", "--since", "1d", "--type", "complaint.*",
                 "--queue", LATE_QUEUE]) == 2
    assert "complaint.*" in capsys.readouterr().err


def test_a_queue_that_does_not_exist_is_refused_on_rabbitmq(rabbitmq_url, postgres_url, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CLIENTLOOP_BROKER_URL", rabbitmq_url)
    monkeypatch.setenv("CLIENTLOOP_REGISTRY_DATABASE_URL", postgres_url)
    monkeypatch.setenv("CLIENTLOOP_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("CLIENTLOOP_DATA_DIR", str(tmp_path / "data"))
    upgrade("registry", postgres_url)
    record(postgres_url, 3, at=datetime.now(timezone.utc))
    assert main(["outbox", "replay", "registry", "--since", "1d", "--queue", "nobody.here"]) == 2
    assert "nobody.here" in capsys.readouterr().err


def test_replay_to_a_webhook_queues_deliveries_with_the_original_bodies(bus, capsys):
    _broker, database = bus
    now = datetime.now(timezone.utc)
    record(database, 24, at=now - timedelta(hours=1))
    db = Database(database)
    try:
        with db.transaction() as session:
            endpoint = store.create_endpoint(session, platform, url="https://127.0.0.1:9/hook",
                                             event_types=["client.*"], description=None, now=now)
        assert main(["outbox", "replay", "registry", "--since", "1d", "--type", "client.updated",
                     "--webhook", endpoint["id"]]) == 0
        assert "8 event(s)" in capsys.readouterr().out
        rows = {row.event_id: row for row in outbox_rows(database)}
        with db.transaction() as session:
            made = session.execute(select(platform.webhook_delivery)).mappings().all()
        assert len(made) == 8
        for delivery in made:
            assert delivery["body"] == rows[delivery["event_id"]].body
            assert delivery["status"] == "pending" and delivery["event_type"] == "client.updated"
            assert json.loads(delivery["body"])["id"] == delivery["event_id"]
    finally:
        db.dispose()
    assert main(["outbox", "replay", "registry", "--since", "1d",
                 "--webhook", "00000000-0000-4000-8000-000000000000"]) == 2


@pytest.mark.parametrize("text,expected", [
    ("2026-05-01", datetime(2026, 5, 1, tzinfo=timezone.utc)),
    ("2026-05-01T08:00:00+08:00", datetime(2026, 5, 1, tzinfo=timezone.utc)),
    ("2026-05-01T08:00:00Z", datetime(2026, 5, 1, 8, tzinfo=timezone.utc)),
    ("12h", datetime(2026, 6, 1, tzinfo=timezone.utc) - timedelta(hours=12)),
    ("7d", datetime(2026, 5, 25, tzinfo=timezone.utc)),
])
def test_since_takes_a_time_or_an_age(text, expected):
    assert parse_since(text, datetime(2026, 6, 1, tzinfo=timezone.utc)) == expected


def test_a_since_that_is_neither_is_refused():
    with pytest.raises(ValueError, match="--since"):
        parse_since("last tuesday", datetime.now(timezone.utc))
