"""The webhook store on SQLite and PostgreSQL: endpoints (the secret shown once), deliveries
newest first, retry, test pings, replays of retained outbox rows, and the type patterns."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.db import Database
from shared.migrations import upgrade
from shared.webhooks import store
from tests.shared.webhooks.dispatch_helpers import (TABLES, Clock, deliveries, dispatcher, drain,
                                                    receiver, record)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    url = (request.getfixturevalue("postgres_url") if request.param == "postgresql"
           else f"sqlite:///{tmp_path / 'registry.db'}")
    upgrade("registry", url)
    db = Database(url)
    yield db
    db.dispose()


@pytest.mark.parametrize("patterns, event_type, expected", [
    (["*"], "complaint.opened", True),
    (["complaint.*"], "complaint.opened", True),
    (["complaint.*"], "complaint.sla.breached", True),
    (["complaint.*"], "complaints.opened", False),
    (["complaint.*"], "complaint", False),
    (["complaint.opened"], "complaint.opened", True),
    (["complaint.opened"], "complaint.opened.again", False),
    (["survey.*", "client.registered"], "client.registered", True),
    ([], "client.registered", False),
])
def test_matches(patterns, event_type, expected):
    assert store.matches(patterns, event_type) is expected


def test_endpoints_are_created_listed_changed_and_deleted_with_their_deliveries(database):
    clock = Clock()
    with database.transaction() as session:
        created = store.create_endpoint(session, TABLES, url="https://hooks.example.com/a",
                                        event_types=["client.*"], description="CRM",
                                        now=clock())
    assert created["secret"].startswith("whsec_") and created["enabled"]
    with database.transaction() as session:
        assert store.list_endpoints(session, TABLES) == [
            {key: value for key, value in created.items() if key != "secret"}]
        assert "secret" not in store.get_endpoint(session, TABLES, created["id"])
        clock.advance(minutes=1)
        off = store.update_endpoint(session, TABLES, created["id"], {"enabled": False}, clock())
        assert not off["enabled"] and off["disabled_reason"]
        store.update_endpoint(session, TABLES, created["id"], {}, clock())
    table = TABLES.webhook_endpoint
    with database.transaction() as session:   # as the dispatcher leaves a failing endpoint
        session.execute(table.update().values(failing_since=clock()))
        on = store.update_endpoint(session, TABLES, created["id"],
                                   {"enabled": True, "event_types": ["*"], "url": "https://b.example"},
                                   clock())
        row = session.execute(table.select()).mappings().one()
    assert on["enabled"] and on["disabled_reason"] is None and on["event_types"] == ["*"]
    assert on["url"] == "https://b.example" and on["updated_at"] > on["created_at"]
    assert row["disabled_at"] is None and row["failing_since"] is None
    assert json.loads(row["event_types"]) == ["*"]
    with database.transaction() as session:
        store.enqueue_test(session, TABLES, created["id"], service="registry", now=clock())
    with database.transaction() as session:
        assert store.delete_endpoint(session, TABLES, created["id"]) is True
        assert store.delete_endpoint(session, TABLES, created["id"]) is False
        assert store.get_endpoint(session, TABLES, created["id"]) is None
        assert store.update_endpoint(session, TABLES, created["id"], {}, clock()) is None
        assert session.execute(TABLES.webhook_delivery.select()).all() == []


def test_a_test_ping_and_a_retry_are_sent_again_with_the_same_id(database, settings):
    local = settings.with_overrides(webhooks_allow_private=True)
    with receiver() as server:
        with database.transaction() as session:
            hook = store.create_endpoint(session, TABLES, url=server.url, event_types=["client.*"],
                                         description=None, now=Clock()())
            ping = store.enqueue_test(session, TABLES, hook["id"], service="registry",
                                      now=hook["created_at"])
            assert store.enqueue_test(session, TABLES, "no-such-endpoint", service="registry",
                                      now=hook["created_at"]) is None
        worker = dispatcher(database, local)
        drain(worker)
        body = json.loads(server.requests[0]["body"])
        assert body["type"] == "clientloop.webhook.test.v1" and body["id"] == ping["event_id"]
        assert body["data"] == {"endpoint_id": hook["id"]} and body["source"] == "clientloop/registry"
        with database.transaction() as session:
            again = store.retry_delivery(session, TABLES, hook["id"], ping["id"], Clock()())
            assert store.retry_delivery(session, TABLES, "other", ping["id"], Clock()()) is None
        assert again["status"] == "pending" and again["attempts"] == 0
        drain(worker)
        assert server.ids() == [ping["event_id"]] * 2
        assert server.requests[0]["body"] == server.requests[1]["body"]
    [delivered] = deliveries(database, hook["id"])
    assert delivered["status"] == "delivered" and delivered["attempts"] == 1


def test_deliveries_are_listed_newest_first_with_their_total(database):
    clock = Clock()
    with database.transaction() as session:
        hook = store.create_endpoint(session, TABLES, url="https://hooks.example.com/a",
                                     event_types=["*"], description=None, now=clock())
        pings = []
        for _ in range(3):
            clock.advance(seconds=1)
            pings.append(store.enqueue_test(session, TABLES, hook["id"], service="registry",
                                            now=clock()))
        page, total = store.list_deliveries(session, TABLES, hook["id"], limit=2, offset=0)
        rest, _ = store.list_deliveries(session, TABLES, hook["id"], limit=2, offset=2)
        none, zero = store.list_deliveries(session, TABLES, hook["id"], status="failed")
    assert total == 3 and [d["id"] for d in page + rest] == [p["id"] for p in reversed(pings)]
    assert set(page[0]) == {"id", "event_id", "event_type", "status", "attempts",
                            "last_status_code", "last_error", "last_attempt_at",
                            "next_attempt_at", "delivered_at", "created_at"}
    assert none == [] and zero == 0


def test_a_replay_delivers_retained_events_again_in_outbox_order(database, settings):
    local = settings.with_overrides(webhooks_allow_private=True)
    clock = Clock()
    with receiver() as server:
        early = record(database, "client.updated", time=clock() - timedelta(hours=2))
        with database.transaction() as session:
            hook = store.create_endpoint(session, TABLES, url=server.url,
                                         event_types=["client.*"], description=None, now=clock())
        later = [record(database, "client.updated", time=clock()),
                 record(database, "requirement.created", time=clock()),
                 record(database, "client.archived", time=clock())]
        worker = dispatcher(database, local)
        for _ in range(2):
            drain(worker)                 # one attempt per endpoint at a time
        assert sorted(server.ids()) == sorted([later[0]["id"], later[2]["id"]])
        server.requests.clear()
        with database.transaction() as session:
            count = store.enqueue_replay(session, TABLES, hook["id"],
                                         since=clock() - timedelta(days=1),
                                         type_pattern=None, now=clock())
        assert count == 3                 # the early event too; never requirement.created
        for _ in range(3):
            drain(worker)
        assert server.ids() == [early["id"], later[0]["id"], later[2]["id"]]
        with database.transaction() as session:
            only = store.enqueue_replay(session, TABLES, hook["id"], since=clock(),
                                        type_pattern="client.archived", now=clock())
        assert only == 1
    rows = {row["event_id"]: row for row in deliveries(database, hook["id"])}
    assert set(rows) == {early["id"], later[0]["id"], later[2]["id"]}
    assert rows[later[2]["id"]]["status"] == "pending"
