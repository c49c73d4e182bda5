"""The webhook dispatcher against receivers on 127.0.0.1 (private addresses allowed for these
tests only), on SQLite and on the real PostgreSQL: what is delivered, retried, given up, and
that one endpoint never holds another back."""
from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook, WebhookVerificationError

from shared.db import Database
from shared.migrations import upgrade
from shared.webhooks.signing import new_secret
from tests.shared.webhooks.dispatch_helpers import (
    TABLES, Clock, create_endpoint, deliveries, dispatcher, drain, endpoint, endpoint_row,
    outbox_body, receiver, record, running, wait_for)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    url = (request.getfixturevalue("postgres_url") if request.param == "postgresql"
           else f"sqlite:///{tmp_path / 'registry.db'}")
    upgrade("registry", url)
    db = Database(url)
    yield db
    db.dispose()


@pytest.fixture
def local(settings):
    """Settings that let deliveries reach the receivers on this machine, retrying quickly."""
    return settings.with_overrides(webhooks_allow_private=True, webhooks_timeout_s=5.0,
                                   webhooks_retry_delays=(0.1,) * 7)


def statuses(database, endpoint_id: str) -> list[str]:
    return [row["status"] for row in deliveries(database, endpoint_id)]


def secret_of(database, endpoint_id: str) -> str:
    return endpoint_row(database, endpoint_id)["secret"]


def test_a_receiver_gets_each_subscribed_event_exactly_as_the_outbox_body_signed(database, local):
    with receiver() as server:
        before = record(database, "client.updated")          # recorded before the endpoint
        hook = create_endpoint(database, server.url, ["client.*"])
        wanted = [record(database, "client.updated"), record(database, "client.sla.breached"),
                  record(database, "client.archived")]
        unsubscribed = record(database, "requirement.created")
        with running(dispatcher(database, local)):
            assert wait_for(lambda: len(server.requests) >= 3)
            time.sleep(0.5)                                    # nothing else arrives
        assert sorted(server.ids()) == sorted(event["id"] for event in wanted)
        assert before["id"] not in server.ids() and unsubscribed["id"] not in server.ids()
        for request in server.requests:
            event_id = request["headers"]["webhook-id"]
            assert request["body"] == outbox_body(database, event_id)
            assert request["headers"]["content-type"] == "application/json"
            verified = Webhook(hook["secret"]).verify(request["body"], request["headers"])
            assert verified["id"] == event_id and verified["type"].startswith("clientloop.client.")
            with pytest.raises(WebhookVerificationError):
                Webhook(new_secret()).verify(request["body"], request["headers"])
    rows = deliveries(database, hook["id"])
    assert {row["event_id"] for row in rows} == {event["id"] for event in wanted}
    assert all(row["status"] == "delivered" and row["attempts"] == 1
               and row["last_status_code"] == 200 and row["delivered_at"] for row in rows)
    assert secret_of(database, hook["id"]) == hook["secret"]


def test_500_three_times_then_200_is_delivered_on_the_fourth_attempt(database, local):
    with receiver(lambda number, request: 500 if number <= 3 else 200) as server:
        hook = create_endpoint(database, server.url)
        event = record(database)
        with running(dispatcher(database, local)):
            assert wait_for(lambda: statuses(database, hook["id"]) == ["delivered"])
        assert server.ids() == [event["id"]] * 4
        assert len({request["body"] for request in server.requests}) == 1
    [delivery] = deliveries(database, hook["id"])
    assert delivery["attempts"] == 4 and delivery["last_status_code"] == 200
    assert delivery["last_error"] is None
    assert endpoint_row(database, hook["id"])["failing_since"] is None   # a success clears it


def test_a_delivery_fails_after_the_last_retry(database, local):
    settings = local.with_overrides(webhooks_retry_delays=(0.05, 0.05))
    with receiver(lambda number, request: 503) as server:
        hook = create_endpoint(database, server.url)
        event = record(database)
        with running(dispatcher(database, settings)):
            assert wait_for(lambda: statuses(database, hook["id"]) == ["failed"])
            time.sleep(0.3)
        assert server.ids() == [event["id"]] * 3
    [delivery] = deliveries(database, hook["id"])
    assert delivery["attempts"] == 3 and delivery["last_status_code"] == 503
    assert delivery["next_attempt_at"] is None and "503" in delivery["last_error"]
    assert endpoint(database, hook["id"])["enabled"]


def test_410_disables_the_endpoint_at_once(database, local):
    with receiver(lambda number, request: 410) as server:
        hook = create_endpoint(database, server.url)
        record(database)
        with running(dispatcher(database, local)):
            assert wait_for(lambda: not endpoint(database, hook["id"])["enabled"])
            later = record(database)
            time.sleep(0.6)   # several retry delays: no further attempt, no new delivery
        assert len(server.requests) == 1
    assert endpoint(database, hook["id"])["disabled_reason"] == "410 Gone"
    rows = deliveries(database, hook["id"])
    assert [row["attempts"] for row in rows] == [1]
    assert later["id"] not in {row["event_id"] for row in rows}


def test_an_endpoint_failing_longer_than_disable_after_days_is_disabled(database, local):
    clock = Clock()
    settings = local.with_overrides(webhooks_disable_after_days=5)
    with receiver(lambda number, request: 500) as server:
        hook = create_endpoint(database, server.url, now=clock())
        record(database, time=clock())
        worker = dispatcher(database, settings, clock=clock)
        drain(worker)
        first = endpoint_row(database, hook["id"])
        assert first["enabled"] and first["failing_since"] is not None
        clock.advance(days=4, hours=23)
        drain(worker)
        assert endpoint(database, hook["id"])["enabled"]      # not yet five days
        clock.advance(hours=2)
        drain(worker)
        assert len(server.requests) == 3
        disabled = endpoint(database, hook["id"])
        assert not disabled["enabled"] and "5 days" in disabled["disabled_reason"]
        clock.advance(seconds=10)
        drain(worker)
        assert len(server.requests) == 3                       # nothing more once disabled


def test_a_hanging_endpoint_does_not_delay_another(database, local):
    settings = local.with_overrides(webhooks_timeout_s=40.0)
    hanging = []

    def hang(number, request):
        hanging.append(request)
        slow.release.wait(30)
        return 200

    with receiver(hang) as slow, receiver() as fast:
        create_endpoint(database, slow.url)
        create_endpoint(database, fast.url)
        worker = dispatcher(database, settings)
        with running(worker):
            waited = []
            for number in range(5):
                started = time.monotonic()
                event = record(database)
                assert wait_for(lambda: event["id"] in fast.ids(), timeout=10), number
                waited.append(time.monotonic() - started)
            # Each event reaches the fast endpoint while the slow one hangs (30 s): typically
            # within a tenth of a second; the median under a second, none near the hang (a
            # busy machine may stall one commit for a moment).
            assert sorted(waited)[2] < 1.0, waited
            assert max(waited) < 5.0, waited
            assert len(hanging) == 1     # one attempt in flight per endpoint, the rest wait
            slow.release.set()
            assert wait_for(lambda: len(slow.requests) == 5, timeout=10)
            assert wait_for(lambda: worker.in_flight() == 0)


def test_a_dispatcher_stopped_mid_retry_loses_nothing_when_another_starts(database, local):
    settings = local.with_overrides(webhooks_retry_delays=(0.3,) * 7)

    def flaky(number, request):
        time.sleep(0.05)
        return 500 if number <= 2 else 200

    with receiver(flaky) as server:
        hook = create_endpoint(database, server.url)
        events = [record(database) for _ in range(5)]
        first = dispatcher(database, settings)
        with running(first):
            assert wait_for(lambda: len(server.requests) >= 3)
        assert wait_for(lambda: first.in_flight() == 0)
        assert any(row["status"] == "pending" for row in deliveries(database, hook["id"]))
        with running(dispatcher(database, settings)):
            assert wait_for(lambda: statuses(database, hook["id"]) == ["delivered"] * 5)
        assert set(server.ids()) == {event["id"] for event in events}
        for request in server.requests:   # every copy carries its own event's id and body
            assert json.loads(request["body"])["id"] == request["headers"]["webhook-id"]
            assert request["body"] == outbox_body(database, request["headers"]["webhook-id"])
    assert len(deliveries(database, hook["id"])) == 5


def test_a_refused_url_is_never_contacted_under_the_production_rule(database, settings):
    assert settings.webhooks_allow_private is False
    with receiver() as server:
        hook = create_endpoint(database, server.url)          # loopback http: refused
        record(database)
        drain(dispatcher(database, settings.with_overrides(webhooks_retry_delays=(60.0,))))
        assert server.requests == []
    [delivery] = deliveries(database, hook["id"])
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert delivery["last_status_code"] is None and "refused" in delivery["last_error"]


def test_fan_out_with_no_endpoints_marks_the_rows_and_creates_nothing(database, local):
    events = [record(database) for _ in range(3)]
    worker = dispatcher(database, local)
    assert worker.fan_out() == 3
    outbox, delivery = TABLES.outbox, TABLES.webhook_delivery
    with database.transaction() as session:
        marks = session.execute(select(outbox.c.event_id, outbox.c.webhooks_at)).all()
        assert {event_id for event_id, _ in marks} == {event["id"] for event in events}
        assert all(at is not None for _, at in marks)
        assert session.execute(select(func.count()).select_from(delivery)).scalar_one() == 0
    with receiver() as server:
        create_endpoint(database, server.url)
        assert worker.fan_out() == 0
        drain(worker)
        assert server.requests == []


def test_with_no_endpoint_the_rows_are_marked_in_batches_without_reading_them(database, local):
    """No endpoint to deliver to: each batch is one UPDATE (the oldest rows first) and no
    event body is read — the write transaction, on SQLite the file's single write lock, lasts
    a moment whatever the events. On SQLite that UPDATE is a statement alone in autocommit,
    no ``BEGIN``/``COMMIT`` around it (``shared.driver_db.sqlite_alone``)."""
    from sqlalchemy import event as sa_event

    from shared.driver_db import sqlite_alone
    events = [record(database) for _ in range(5)]
    worker = dispatcher(database, local, batch_size=2)
    statements: list[str] = []
    listener = lambda _conn, _cursor, sql, *_rest: statements.append(" ".join(sql.split()))  # noqa: E731
    sa_event.listen(database.engine, "before_cursor_execute", listener)
    alone: list[str] = []
    if database.dialect == "sqlite":
        with sqlite_alone(database).connect():
            pass                      # one connection made and kept, to be traced
        for raw in sqlite_alone(database)._idle:
            raw.set_trace_callback(lambda sql: alone.append(" ".join(sql.split())))
    try:
        assert worker._fan_out_batch() == 2
        outbox = TABLES.outbox
        with database.transaction() as session:
            marked = session.execute(select(outbox.c.event_id)
                                     .where(outbox.c.webhooks_at.is_not(None))).scalars().all()
        assert sorted(marked) == sorted(event["id"] for event in events[:2])
        assert worker.fan_out() == 3
    finally:
        sa_event.remove(database.engine, "before_cursor_execute", listener)
    assert not any("outbox.body" in sql for sql in statements + alone), statements
    updates = [sql for sql in statements + alone if sql.startswith("UPDATE outbox")]
    assert len(updates) == 3   # batches of 2, 2 and 1
    assert all("LIMIT" in sql for sql in updates)
    if database.dialect == "sqlite":
        assert len(alone) == 3 and all(sql.startswith("UPDATE outbox") for sql in alone), alone


def test_deliveries_come_only_from_committed_outbox_rows(database, local):
    with receiver() as server:
        hook = create_endpoint(database, server.url)
        with pytest.raises(RuntimeError):
            with database.transaction() as session:
                from shared.bus.outbox import record_event
                record_event(session, TABLES, service="registry", event_type="client.updated",
                             subject="rolled-back", data={}, time=hook["created_at"])
                raise RuntimeError("the use case failed")
        kept = record(database)
        worker = dispatcher(database, local)
        drain(worker)
        assert server.ids() == [kept["id"]]
        assert [row["event_id"] for row in deliveries(database, hook["id"])] == [kept["id"]]


def test_an_uncommitted_event_is_fanned_out_only_once_committed(postgres_url, local):
    upgrade("registry", postgres_url)
    database = Database(postgres_url)
    try:
        with receiver() as server:
            hook = create_endpoint(database, server.url)
            worker = dispatcher(database, local)
            from shared.bus.outbox import record_event
            with database.transaction() as session:
                envelope = record_event(session, TABLES, service="registry",
                                        event_type="client.updated", subject="open", data={},
                                        time=hook["created_at"])
                done = threading.Event()
                thread = threading.Thread(target=lambda: (drain(worker), done.set()))
                thread.start()
                assert done.wait(10), "the fan-out waited for an open transaction"
                assert deliveries(database, hook["id"]) == []
            drain(worker)
            assert server.ids() == [envelope["id"]]
    finally:
        database.dispose()


def test_a_pass_with_nothing_to_do_takes_no_write_lock(tmp_path, local):
    """SQLite: a dispatcher pass that finds nothing to fan out and nothing due neither waits for
    the file's single write lock nor takes it; once there is work, it takes it."""
    import sqlite3
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    upgrade("registry", url)
    database = Database(url)
    holder = sqlite3.connect(tmp_path / "registry.db", isolation_level=None)
    try:
        sender = dispatcher(database, local)
        holder.execute("BEGIN IMMEDIATE")           # another writer holds the lock
        passes: list[int] = []
        idle = threading.Thread(target=lambda: passes.append(sender.fan_out() + sender.dispatch_due()))
        idle.start()
        idle.join(3)
        assert not idle.is_alive() and passes == [0]
        holder.execute("COMMIT")
        record(database, "client.registered")
        holder.execute("BEGIN IMMEDIATE")
        busy = threading.Thread(target=lambda: passes.append(sender.fan_out()))
        busy.start()
        busy.join(0.5)
        assert busy.is_alive()                       # work to do: it waits for the lock
        holder.execute("COMMIT")
        busy.join(35)
        assert passes == [0, 1]
    finally:
        holder.close()
        database.dispose()
