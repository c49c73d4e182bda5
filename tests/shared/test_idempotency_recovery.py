"""An ``Idempotency-Key`` after an outage: a retry runs again only if nothing was committed.

Registry on real PostgreSQL reached through a TCP proxy the test cuts in the middle of a create.
A key whose request failed is free again as soon as the database is back; a reservation left by
a request that died is taken over after the lease; a reservation whose write committed is never
run again, answered or not; and the mark that says "committed" is written in the very
transaction of the write.
"""
from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import event, func, insert, select, update

from services.registry.app import build_context, create_app
from services.registry.service import register_client
from shared.clock import utcnow
from shared.migrations import upgrade
from shared.web import reservation as reservations
from shared.web.idempotency import HEADER, LEASE_S, request_digest
from shared.web.reservation import Reservation, ReservationTakenOver
from tests.conftest import PG_HOST, PG_PORT, auth, make_token
from tests.support.tcp_proxy import TcpProxy

CLIENT = {"name": "Retry Ltd", "kind": "external", "category": "enterprise"}
SCOPE = "staff-user POST /api/v1/clients"


@pytest.fixture
def proxy():
    with TcpProxy(PG_HOST, PG_PORT) as running:
        yield running


@pytest.fixture
def registry(postgres_url, proxy, settings):
    """Registry's app and context, its database reached only through the proxy."""
    upgrade("registry", postgres_url)
    parts = urlsplit(postgres_url)
    through = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    ctx = build_context(settings.with_overrides(
        database_urls={**settings.database_urls, "registry": through}))
    yield create_app(context=ctx), ctx
    ctx.database.dispose()


@pytest.fixture
def staff(settings):
    return auth(make_token(settings, "staff"))


def create(http, staff, key: str, body=CLIENT):
    return http.post("/api/v1/clients", json=body, headers={**staff, HEADER: key})


def _client_table(ctx):
    from services.registry.adapters.orm import ClientRecord
    return ClientRecord.__table__


def client_count(ctx) -> int:
    with ctx.database.transaction() as session:
        return session.execute(select(func.count()).select_from(_client_table(ctx))).scalar_one()


def key_row(ctx, key: str):
    table = ctx.tables.idempotency_key
    with ctx.database.transaction() as session:
        return session.execute(select(table).where(table.c.key == key)).first()


def cut_at(ctx, proxy, sql_start: str):
    """Cut the proxy as the first statement starting with ``sql_start`` is sent."""
    fired: list[str] = []

    def cut(_conn, _cursor, statement, *_args):
        if not fired and statement.lstrip().upper().startswith(sql_start):
            fired.append(statement)
            proxy.cut()

    event.listen(ctx.database.engine, "before_cursor_execute", cut)
    return fired


def retry_until_created(http, staff, key: str, timeout: float) -> tuple[object, list[int]]:
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while True:
        answer = create(http, staff, key)
        seen.append(answer.status_code)
        if answer.status_code == 201 or time.monotonic() > deadline:
            return answer, seen
        time.sleep(0.25)


def reserve(ctx, key: str, *, age: timedelta, committed: bool = False, body=CLIENT) -> None:
    """The reservation a request left behind when it died ``age`` ago."""
    now = utcnow()
    digest = request_digest("POST", "/api/v1/clients", json.dumps(body).encode())
    with ctx.database.transaction() as session:
        session.execute(insert(ctx.tables.idempotency_key).values(
            scope=SCOPE, key=key, request_hash=digest, created_at=now - age,
            committed_at=now - age if committed else None))


def test_a_key_whose_request_met_an_outage_is_free_again_soon_after_the_database_is_back(
        registry, proxy, staff):
    app, ctx = registry
    http = app.test_client()
    fired = cut_at(ctx, proxy, "INSERT INTO CLIENT ")
    failed = create(http, staff, "outage-1")
    assert fired, "the create never reached the database"
    assert failed.status_code == 503, failed.get_data(as_text=True)
    assert int(failed.headers["Retry-After"]) > 0

    proxy.restore()
    answer, seen = retry_until_created(http, staff, "outage-1", timeout=6)
    assert answer.status_code == 201, (seen, answer.get_data(as_text=True))
    assert client_count(ctx) == 1
    replayed = create(http, staff, "outage-1")
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.get_json()["id"] == answer.get_json()["id"]
    assert client_count(ctx) == 1


def test_a_committed_create_whose_answer_could_not_be_stored_keeps_it_once_the_database_is_back(
        registry, proxy, staff):
    app, ctx = registry
    http = app.test_client()
    fired = cut_at(ctx, proxy, "UPDATE IDEMPOTENCY_KEY SET STATUS_CODE")
    first = create(http, staff, "outage-2")
    assert fired
    assert first.status_code == 201, first.get_data(as_text=True)  # the write did commit
    proxy.restore()
    deadline = time.monotonic() + 6
    while key_row(ctx, "outage-2").status_code is None and time.monotonic() < deadline:
        time.sleep(0.1)
    replayed = create(http, staff, "outage-2")
    assert replayed.status_code == 201, replayed.get_data(as_text=True)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.get_json() == first.get_json()
    assert client_count(ctx) == 1


def test_a_reservation_left_by_a_dead_request_is_taken_over_after_the_lease(registry, staff):
    app, ctx = registry
    http = app.test_client()
    reserve(ctx, "dead-young", age=timedelta(seconds=5))
    reserve(ctx, "dead-old", age=timedelta(seconds=LEASE_S + 5))

    young = create(http, staff, "dead-young")
    assert young.status_code == 409, young.get_data(as_text=True)
    assert "still being processed" in young.get_json()["detail"]
    assert int(young.headers["Retry-After"]) > 0
    assert client_count(ctx) == 0

    taken_over = create(http, staff, "dead-old")
    assert taken_over.status_code == 201, taken_over.get_data(as_text=True)
    assert client_count(ctx) == 1
    row = key_row(ctx, "dead-old")
    assert row.status_code == 201 and row.committed_at is not None
    assert create(http, staff, "dead-old").get_json()["id"] == taken_over.get_json()["id"]
    assert client_count(ctx) == 1
    other = create(http, staff, "dead-young", body={**CLIENT, "name": "Other Ltd"})
    assert other.status_code == 422  # the same key with another body, in flight or not


@pytest.mark.parametrize("age", [timedelta(seconds=5), timedelta(seconds=LEASE_S + 5)])
def test_a_reservation_whose_write_committed_is_never_run_again_even_without_an_answer(
        registry, staff, age):
    app, ctx = registry
    http = app.test_client()
    reserve(ctx, "lost-answer", age=age, committed=True)
    for _ in range(2):
        answer = create(http, staff, "lost-answer")
        assert answer.status_code == 409, answer.get_data(as_text=True)
        assert answer.mimetype == "application/problem+json"
        problem = answer.get_json()
        assert problem["first_request"] == "succeeded"
        assert "succeeded" in problem["detail"] and "not run again" in problem["detail"]
        assert "Retry-After" not in answer.headers
    assert client_count(ctx) == 0
    assert key_row(ctx, "lost-answer").committed_at is not None


def test_the_committed_mark_is_written_only_in_the_transaction_that_commits_a_write(
        registry, settings):
    app, ctx = registry
    table = ctx.tables.idempotency_key
    rules = ctx.extras["rules"]
    reserve(ctx, "marked", age=timedelta(0))
    row = key_row(ctx, "marked")
    reservation = Reservation(table, row.id, row.created_at, ctx.database.engine, ctx.clock)

    def committed_at():
        return key_row(ctx, "marked").committed_at

    with app.test_request_context():
        reservations.hold(reservation)
        with ctx.database.transaction() as session:  # a read commits nothing
            session.execute(select(func.count()).select_from(_client_table(ctx)))
        assert committed_at() is None and not reservation.committed

        with pytest.raises(RuntimeError):  # a write that rolls back
            with ctx.database.transaction() as session:
                register_client(session, CLIENT, now=ctx.clock(), rules=rules)
                with session.begin_nested():  # a savepoint released is no commit yet
                    session.execute(select(func.count()).select_from(_client_table(ctx)))
                raise RuntimeError("the view failed after its write")
        assert committed_at() is None and not reservation.committed
        assert client_count(ctx) == 0

        with ctx.database.transaction() as session:  # a write (no event) that commits
            session.execute(insert(ctx.tables.inbox).values(
                event_id="e-1", event_type="client.registered", received_at=ctx.clock()))
            with pytest.raises(RuntimeError):  # a savepoint rolled back is not the end of it
                with session.begin_nested():
                    raise RuntimeError("a savepoint given up")
            assert committed_at() is None and not reservation.committed
        assert committed_at() is not None and reservation.committed

        with ctx.database.transaction() as session:
            session.execute(update(table).where(table.c.id == row.id).values(committed_at=None))
        reservation.committed = False
        with ctx.database.transaction() as session:  # an ORM write with its event that commits
            register_client(session, CLIENT, now=ctx.clock(), rules=rules)
        assert committed_at() is not None and reservation.committed
        assert client_count(ctx) == 1
        reservations.release()

        with ctx.database.transaction() as session:  # no reservation held: nothing to mark
            session.execute(update(table).where(table.c.id == row.id).values(committed_at=None))
            register_client(session, {**CLIENT, "name": "Unmarked Ltd"}, now=ctx.clock(),
                            rules=rules)
        assert committed_at() is None


def test_a_request_whose_reservation_was_taken_over_cannot_commit_its_write(registry):
    app, ctx = registry
    table = ctx.tables.idempotency_key
    reserve(ctx, "overtaken", age=timedelta(seconds=LEASE_S + 5))
    row = key_row(ctx, "overtaken")
    reservation = Reservation(table, row.id, row.created_at, ctx.database.engine, ctx.clock)
    with ctx.database.transaction() as session:  # a retry took it over
        session.execute(update(table).where(table.c.id == row.id).values(created_at=utcnow()))
    with app.test_request_context():
        reservations.hold(reservation)
        with pytest.raises(ReservationTakenOver):
            with ctx.database.transaction() as session:
                register_client(session, CLIENT, now=ctx.clock(), rules=ctx.extras["rules"])
        reservations.release()
    assert client_count(ctx) == 0
    assert key_row(ctx, "overtaken").committed_at is None
