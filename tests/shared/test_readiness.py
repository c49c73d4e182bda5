"""``/readyz`` follows the process's database only; the broker is reported beside it."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from services.registry.app import build_context, create_app
from shared.migrations import upgrade
from shared.web import health
from shared.web.health import BrokerProbe


@pytest.fixture
def closed_port():
    """A local port bound but never listening: every connection to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _app(settings):
    if settings.database_url("registry").startswith("sqlite"):
        upgrade("registry", settings.database_url("registry"))
    ctx = build_context(settings)
    return ctx, create_app(context=ctx)


@pytest.fixture
def broker_down(settings, closed_port):
    ctx, app = _app(settings.with_overrides(
        broker_url=f"amqp://guest:guest@127.0.0.1:{closed_port}/"))
    yield app.test_client()
    ctx.database.dispose()


def test_a_web_process_stays_ready_when_only_the_broker_is_down(broker_down):
    started = time.monotonic()
    ready = broker_down.get("/readyz")
    assert ready.status_code == 200, ready.get_data(as_text=True)
    assert ready.get_json()["checks"] == {"database": "ok"}

    verbose = broker_down.get("/readyz?verbose")
    assert verbose.status_code == 200
    checks = verbose.get_json()["checks"]
    assert checks["database"] == "ok" and checks["broker"].startswith("unavailable: ")
    assert time.monotonic() - started < 1.5  # a refused connection answers at once

    metrics = broker_down.get("/metrics").get_data(as_text=True)
    assert 'clientloop_broker_up{service="registry"} 0.0' in metrics


def test_the_database_down_is_still_not_ready(settings, closed_port):
    urls = dict(settings.database_urls, registry=f"postgresql://postgres@127.0.0.1:{closed_port}/x")
    ctx, app = _app(settings.with_overrides(database_urls=urls))
    try:
        answer = app.test_client().get("/readyz?verbose")
    finally:
        ctx.database.dispose()
    assert answer.status_code == 503
    assert answer.headers["Content-Type"] == "application/problem+json"
    checks = answer.get_json()["checks"]
    assert checks["database"].startswith("unavailable: ") and checks["broker"] == "ok"


def test_a_reachable_broker_is_reported_up(settings, rabbitmq_url):
    ctx, app = _app(settings.with_overrides(broker_url=rabbitmq_url))
    try:
        http = app.test_client()
        assert http.get("/readyz?verbose").get_json()["checks"] == {"database": "ok", "broker": "ok"}
        assert 'clientloop_broker_up{service="registry"} 1.0' in http.get("/metrics").get_data(as_text=True)
    finally:
        ctx.database.dispose()


def test_probes_and_scrapes_share_one_check_every_few_seconds(monkeypatch):
    calls = []

    def slow_check(url, *, timeout_s, inspect=None):
        calls.append(url)
        time.sleep(0.2)
        return "unavailable: OSError"

    monkeypatch.setattr(health, "broker_check", slow_check)
    now = [100.0]
    results = []
    probe = BrokerProbe("amqp://broker/", ttl_s=5, clock=lambda: now[0], on_result=results.append)
    threads = [threading.Thread(target=probe.check) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and results == [False]
    now[0] += 4.9
    assert probe.check() == "unavailable: OSError" and len(calls) == 1
    now[0] += 0.1
    probe.check()
    assert len(calls) == 2
