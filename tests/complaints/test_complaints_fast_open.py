"""The ordinary opening answered without the framework (``api.fast_open``, PostgreSQL): the same
answer as the view, the same checks, and everything unusual answered by the view as before,
with nothing written on the way."""
from __future__ import annotations

import json
import logging

import psycopg
import pytest
from sqlalchemy import func, select

from services.complaints import service
from services.complaints.adapters import repository
from services.complaints.adapters.repository import COMPLAINTS
from services.complaints.api.fast_open import FastOpen
from services.complaints.app import create_app
from shared.driver_db import DriverConnection
from shared.tokens import revoke_token
from tests.complaints.complaints_helpers import (ComplaintsApi, client_data, client_event,
                                                 outbox_events, register_client)
from tests.complaints.test_complaints_opening_postgres import pg_api, pg_ctx  # noqa: F401
from tests.conftest import auth


def stored(ctx) -> tuple[int, int]:
    """Complaints and outbox rows written so far."""
    with ctx.database.transaction() as session:
        return (session.execute(select(func.count()).select_from(COMPLAINTS)).scalar_one(),
                session.execute(select(func.count()).select_from(ctx.tables.outbox)).scalar_one())


def test_the_app_on_postgresql_answers_openings_directly(pg_api):
    path = pg_api.client.application.wsgi_app
    assert isinstance(path, FastOpen)


def test_an_ordinary_opening_never_reaches_the_view(pg_api, monkeypatch):
    def view_path(*_args, **_kwargs):
        raise AssertionError("the view answered an ordinary opening")

    monkeypatch.setattr(service, "open_new_complaint", view_path)
    response = pg_api.open()
    assert response.status_code == 201, response.get_json()


def test_the_direct_answer_is_the_views_answer(pg_api, pg_ctx):
    direct = pg_api.open(headers=pg_api.headers(**{"X-Request-ID": "req-direct-1"}))
    # An Idempotency-Key sends the same request through the view.
    viewed = pg_api.open(headers=pg_api.headers(**{"X-Request-ID": "req-view-1",
                                                   "Idempotency-Key": "k-1"}))
    assert direct.status_code == viewed.status_code == 201
    assert direct.mimetype == viewed.mimetype == "application/json"
    assert direct.headers["X-Request-ID"] == "req-direct-1"
    assert sorted(direct.headers.keys()) == sorted(viewed.headers.keys())
    first, second = direct.get_json(), viewed.get_json()
    assert direct.headers["Location"] == f"/api/v1/complaints/{first['id']}"
    assert direct.headers["ETag"] == viewed.headers["ETag"] == '"1"'
    assert list(first) == list(second)
    own = {"id", "ref", "timeline"}
    assert {key: value for key, value in first.items() if key not in own} == \
        {key: value for key, value in second.items() if key not in own}
    assert (first["ref"], second["ref"]) == ("CMP-000001", "CMP-000002")
    assert [{key: value for key, value in entry.items() if key != "id"}
            for entry in first["timeline"]] == \
        [{key: value for key, value in entry.items() if key != "id"} for entry in second["timeline"]]
    assert direct.get_data().endswith(b"\n") and viewed.get_data().endswith(b"\n")
    assert json.loads(direct.get_data()) == pg_api.read(first["id"])
    events = [event for event in outbox_events(pg_ctx) if event["event_type"] == "complaint.opened"]
    assert [event["data"]["complaint_id"] for event in events] == [first["id"], second["id"]]
    assert [event["data"]["ref"] for event in events] == ["CMP-000001", "CMP-000002"]
    mine = ("id", "sequence", "data", "time")
    assert ({key: value for key, value in events[0].items() if key not in mine}
            == {key: value for key, value in events[1].items() if key not in mine})
    assert sorted(events[0]["data"]) == sorted(events[1]["data"])


def test_the_direct_answer_is_logged_and_counted(pg_api, caplog):
    with caplog.at_level(logging.INFO, logger="clientloop.access"):
        response = pg_api.open(headers=pg_api.headers(**{"X-Request-ID": "req-logged"}))
    assert response.status_code == 201
    [line] = [record for record in caplog.records
              if getattr(record, "request_id", None) == "req-logged"]
    assert (line.method, line.path, line.status, line.by) == \
        ("POST", "/api/v1/complaints", 201, "staff-user")
    assert line.duration_ms >= 0
    metrics = pg_api.client.get("/metrics").get_data(as_text=True)
    assert ('clientloop_http_requests_total{endpoint="/api/v1/complaints",method="POST",'
            'service="complaints",status="201"} 1.0') in metrics


def _unknown_client(api):
    return api.open(client_id="5b0c3c5e-8f5e-4d7e-9a59-2f5f0d3f9c11")


def _erased_client(api):
    client_id = register_client(api.ctx)
    client_event(api.ctx, "client.erased", {"client_id": client_id}, subject=client_id)
    return api.open(client_id=client_id)


def _raw(body: bytes, content_type: str = "application/json"):
    return lambda api: api.client.post("/api/v1/complaints", data=body, headers={
        **api.headers(), "Content-Type": content_type})


REFUSED = {
    "no token": (lambda api: api.open(headers={"Accept": "application/json"}), 401),
    "a token not signed here": (lambda api: api.open(headers=auth("not.a.token")), 401),
    "a read-only role": (lambda api: api.open(headers=api.headers("analyst")), 403),
    "an unknown client": (_unknown_client, 422),
    "an erased client": (_erased_client, 422),
    "a severity not in the list": (lambda api: api.open(severity="urgent"), 422),
    "a blank title": (lambda api: api.open(title="   "), 422),
    "a field the API does not have": (lambda api: api.open(priority="p1"), 422),
    "a NUL character": (lambda api: api.open(title="bad\u0000title"), 422),
    "a client id that is not a UUID": (lambda api: api.open(client_id="huawei"), 422),
    "JSON that does not parse": (_raw(b'{"title": '), 400),
    "a JSON array": (_raw(b"[1, 2]"), 422),
    "not JSON": (_raw(b"title=x", "application/x-www-form-urlencoded"), 400),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_the_view_refuses_it_still_refuses_and_nothing_is_written(pg_api, pg_ctx, case):
    pg_api.default_client()
    before = stored(pg_ctx)
    send, status = REFUSED[case]
    response = send(pg_api)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    if case == "an unknown client":
        assert response.headers["Retry-After"] == "1"
    assert stored(pg_ctx) == before
    assert pg_api.opened()["ref"] == "CMP-000001"   # and no number was taken


def test_a_revoked_token_is_refused(pg_ctx, tokens, settings):
    from shared.auth import verify_token
    principal = verify_token(settings.secret_key, tokens["staff"], now=pg_ctx.clock())
    revoke_token(pg_ctx.database, pg_ctx.tables.api_token, principal.token_id,
                 now=pg_ctx.clock())
    api = ComplaintsApi(create_app(context=pg_ctx).test_client(), pg_ctx, tokens)
    response = api.open()
    assert response.status_code == 401
    assert response.get_json()["reason"] == "revoked"
    assert stored(pg_ctx) == (0, 0)


@pytest.mark.parametrize("change", ["tier", "erased"])
def test_a_directory_entry_changed_after_the_read_writes_nothing_and_the_view_answers(
        pg_api, pg_ctx, monkeypatch, change):
    """The directory entry read without a lock changes before the write: the write checks it
    again, writes nothing, and the view opens it on the entry as it is now (or refuses)."""
    client_id = register_client(pg_ctx, tier="B")
    read = repository.directory_entry
    changed: list[bool] = []

    def read_then_change(session, wanted, *, lock=True):
        entry = read(session, wanted, lock=lock)
        if not lock and not changed:
            changed.append(True)
            if change == "tier":
                client_event(pg_ctx, "client.updated", client_data(client_id, tier="A"),
                             subject=client_id, at=pg_ctx.clock())
            else:
                client_event(pg_ctx, "client.erased", {"client_id": client_id},
                             subject=client_id)
        return entry

    monkeypatch.setattr(repository, "directory_entry", read_then_change)
    response = pg_api.open(client_id=client_id)
    assert changed == [True]
    if change == "erased":
        assert response.status_code == 422
        assert stored(pg_ctx) == (0, 0)
        return
    assert response.status_code == 201, response.get_json()
    opened = response.get_json()
    assert (opened["client_tier"], opened["ref"]) == ("A", "CMP-000001")
    assert stored(pg_ctx)[0] == 1
    [event] = [event for event in outbox_events(pg_ctx) if event["event_type"] == "complaint.opened"]
    assert event["data"]["complaint_id"] == opened["id"]


def test_a_connection_the_server_dropped_fails_over_to_the_view(pg_api, pg_ctx, postgres_url,
                                                               monkeypatch):
    pg_api.opened()
    pids: list[int] = []
    execute = DriverConnection.execute

    def noted(connection, statement, parameters=None):
        pids.append(connection._raw.info.backend_pid)
        return execute(connection, statement, parameters)

    monkeypatch.setattr(DriverConnection, "execute", noted)
    pg_api.opened()
    assert pids
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        for pid in set(pids):
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    response = pg_api.open()
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["ref"] == "CMP-000003"
    assert stored(pg_ctx)[0] == 3
    assert pg_api.opened()["ref"] == "CMP-000004"   # and the next is direct again, reconnected


def test_the_embedded_default_has_no_direct_path(api):
    path = api.client.application.wsgi_app
    while hasattr(path, "app"):
        path = path.app
    assert not isinstance(path, FastOpen)
    assert api.opened()["status"] == "new"


def test_many_threads_open_directly_with_one_connection_each(pg_ctx, tokens):
    from concurrent.futures import ThreadPoolExecutor
    app = create_app(context=pg_ctx)
    clients = [register_client(pg_ctx) for _ in range(3)]

    def opener(number: int) -> list[str]:
        api = ComplaintsApi(app.test_client(), pg_ctx, tokens)
        return [api.opened(client_id=clients[(number + turn) % 3])["ref"] for turn in range(6)]

    with ThreadPoolExecutor(4) as pool:
        refs = [ref for batch in pool.map(opener, range(4)) for ref in batch]
    assert sorted(refs) == [f"CMP-{number:06d}" for number in range(1, 25)]
    drivers = app.wsgi_app._drivers.get()
    assert 1 <= drivers.opened <= 4


def test_a_write_the_server_refused_is_handed_to_the_view(pg_api, pg_ctx, monkeypatch):
    """A statement the server refused (it reported an error of its own on a working
    connection) wrote nothing: the view opens the complaint as it always did."""
    from sqlalchemy import exc as sa_exc
    write = service.write_opening
    calls: list[int] = []

    def refused_once(connection, opening):
        calls.append(1)
        if len(calls) == 1:
            raise sa_exc.DBAPIError.instance(
                "INSERT …", {}, psycopg.errors.SerializationFailure("could not serialize"),
                psycopg.Error)
        return write(connection, opening)

    monkeypatch.setattr(service, "write_opening", refused_once)
    response = pg_api.open()
    assert response.status_code == 201, response.get_json()
    assert calls == [1] and stored(pg_ctx)[0] == 1
    assert pg_api.opened()["ref"] == "CMP-000002"   # the next is direct again


def test_a_write_whose_outcome_is_unknown_is_not_opened_again(pg_api, pg_ctx, monkeypatch,
                                                               caplog):
    """The connection lost while the write ran: it may have been committed. The view must not
    open it a second time; the answer is the outage's (503 with Retry-After), logged, counted,
    with its request id, and nothing else is written."""
    from sqlalchemy import exc as sa_exc
    opened_by_view: list[int] = []
    monkeypatch.setattr(service, "open_new_complaint",
                        lambda *args, **kwargs: opened_by_view.append(1))

    def lost(connection, opening):
        raise sa_exc.DBAPIError.instance(
            "INSERT …", {}, psycopg.OperationalError("server closed the connection unexpectedly"),
            psycopg.Error)

    monkeypatch.setattr(service, "write_opening", lost)
    before = stored(pg_ctx)
    with caplog.at_level(logging.INFO, logger="clientloop.access"):
        response = pg_api.open(headers=pg_api.headers(**{"X-Request-ID": "req-unknown"}))
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"]
    assert response.headers["X-Request-ID"] == "req-unknown"
    assert opened_by_view == [] and stored(pg_ctx) == before
    assert [(record.method, record.path) for record in caplog.records
            if getattr(record, "status", None) == 503] == [("POST", "/api/v1/complaints")]
    metrics = pg_api.client.get("/metrics").get_data(as_text=True)
    assert ('clientloop_http_requests_total{endpoint="/api/v1/complaints",method="POST",'
            'service="complaints",status="503"} 1.0') in metrics
