"""Opening a complaint on PostgreSQL: two statements (the client's directory entry, then one
that takes the number, writes the complaint, its timeline entry and its event, and wakes the
relay at the commit) — outside a transaction for an ordinary request, in the view's transaction
otherwise — an answer equal to what a read answers, an event naming the number the
complaint got, and numbers without gaps or duplicates however many open at once."""
from __future__ import annotations

import json
import threading
from collections import defaultdict

import psycopg
import pytest
from sqlalchemy import event, select, text

from services.complaints import service
from services.complaints.adapters.orm import platform
from services.complaints.adapters.repository import COMPLAINTS
from services.complaints.app import build_context, create_app
from shared.bus.outbox import notify_channel
from shared.driver_db import DriverConnection
from shared.migrations import upgrade
from tests.complaints.complaints_helpers import ComplaintsApi, register_client


@pytest.fixture
def pg_ctx(settings, clock, postgres_url):
    upgrade("complaints", postgres_url)
    ctx = build_context(settings.with_overrides(
        database_urls={**settings.database_urls, "complaints": postgres_url}), clock=clock)
    yield ctx
    ctx.database.dispose()


@pytest.fixture
def pg_api(pg_ctx, tokens) -> ComplaintsApi:
    return ComplaintsApi(create_app(context=pg_ctx).test_client(), pg_ctx, tokens)


def outbox_events(ctx) -> list[dict]:
    with ctx.database.transaction() as session:
        return [json.loads(body) for body in session.execute(
            select(platform.outbox.c.body).order_by(platform.outbox.c.id)).scalars()]


def test_opening_takes_two_statements_and_answers_what_a_read_answers(pg_api, pg_ctx,
                                                                      postgres_url, monkeypatch):
    """The ordinary opening (``api.fast_open``): two statements on a driver connection in
    autocommit — the directory entry, then the write — and none through the ORM's engine (no
    ``BEGIN``, no ``COMMIT``)."""
    pg_api.opened()  # the first request of an app reads the token revocations once
    statements: list[str] = []
    event.listen(pg_ctx.database.engine, "before_cursor_execute",
                 lambda _conn, _cursor, statement, *_rest: statements.append(statement))
    driver_statements: list[str] = []
    execute = DriverConnection.execute

    def traced(connection, statement, parameters=None):
        driver_statements.append(connection.engine.sql(statement)[0])
        return execute(connection, statement, parameters)

    monkeypatch.setattr(DriverConnection, "execute", traced)
    with psycopg.connect(postgres_url, autocommit=True) as relay:
        relay.execute(f'LISTEN "{notify_channel("complaints")}"')
        response = pg_api.open(title="工单无人处理 \"quoted\" CMP-000001", channel="phone")
        assert response.status_code == 201, response.get_json()
        woken = [notice.channel for notice in relay.notifies(timeout=5, stop_after=1)]
    assert woken == [notify_channel("complaints")]  # the relay's channel, at the commit
    assert statements == []
    assert len(driver_statements) == 2, driver_statements
    assert "FROM known_client" in driver_statements[0]
    assert "FOR SHARE" not in driver_statements[0]   # the write checks the entry again
    assert driver_statements[1].lstrip().startswith("WITH client AS")
    opened = response.get_json()
    assert opened["ref"] == "CMP-000002"
    read = pg_api.get(opened["id"])
    assert read.get_json() == opened
    assert read.headers["ETag"] == response.headers["ETag"]
    assert response.headers["Location"].endswith(f"/api/v1/complaints/{opened['id']}")
    envelope = outbox_events(pg_ctx)[-1]
    assert envelope["type"] == "clientloop.complaint.opened.v1"
    assert envelope["subject"] == opened["client_id"]
    assert envelope["sequence"] == "2".zfill(20)
    assert envelope["data"]["ref"] == "CMP-000002"
    assert envelope["data"]["complaint_id"] == opened["id"]


def test_in_a_transaction_opening_takes_two_statements(pg_api, pg_ctx):
    """The view's opening (an ``Idempotency-Key``, say), inside the caller's transaction: the
    directory entry share-locked, then the one statement that writes."""
    client_id = pg_api.default_client()
    statements: list[str] = []
    event.listen(pg_ctx.database.engine, "before_cursor_execute",
                 lambda _conn, _cursor, statement, *_rest: statements.append(statement))
    with pg_ctx.database.transaction() as session:
        changed = service.open_new_complaint(
            session, pg_api.body(client_id=client_id), by="staff-user", now=pg_ctx.clock(),
            rules=pg_ctx.extras["rules"])
    assert len(statements) == 2, statements
    assert "FOR SHARE" in statements[0]
    assert changed.complaint.ref == "CMP-000001"
    response = pg_api.open(headers=pg_api.headers(**{"Idempotency-Key": "k-1"}))
    assert response.status_code == 201 and response.get_json()["ref"] == "CMP-000002"


def test_a_number_past_six_digits_is_written_in_full(pg_api, pg_ctx):
    with pg_ctx.database.transaction() as session:
        session.execute(text("UPDATE complaint_ref_counter SET last_number = 999999"))
    opened = pg_api.opened()
    assert opened["ref"] == "CMP-1000000"
    assert outbox_events(pg_ctx)[-1]["data"]["ref"] == "CMP-1000000"


def test_concurrent_openings_number_without_gaps_and_each_event_names_its_complaint(
        pg_api, pg_ctx, tokens):
    clients = [register_client(pg_ctx) for _ in range(3)]
    app = create_app(context=pg_ctx)
    threads_count, each = 6, 8
    answers: list[dict] = []
    failures: list[BaseException] = []
    start = threading.Barrier(threads_count)

    def opener(number: int) -> None:
        api = ComplaintsApi(app.test_client(), pg_ctx, tokens)
        try:
            start.wait(10)
            for turn in range(each):
                answers.append(api.opened(client_id=clients[(number + turn) % len(clients)]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=opener, args=(number,)) for number in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures
    total = threads_count * each
    assert sorted(answer["ref"] for answer in answers) == \
        [f"CMP-{number:06d}" for number in range(1, total + 1)]
    with pg_ctx.database.transaction() as session:
        stored = dict(session.execute(select(COMPLAINTS.c.id, COMPLAINTS.c.ref)).all())
    assert stored == {answer["id"]: answer["ref"] for answer in answers}
    sequences = defaultdict(list)
    for envelope in outbox_events(pg_ctx):
        assert envelope["data"]["ref"] == stored[envelope["data"]["complaint_id"]]
        sequences[envelope["subject"]].append(int(envelope["sequence"]))
    for subject_sequences in sequences.values():
        assert subject_sequences == list(range(1, len(subject_sequences) + 1))
