"""A database outage seen from the web: 503 with ``Retry-After``, then recovery without restart.

All three services run on real PostgreSQL reached through a TCP proxy the test controls. With
the proxy cut (every connection closed, new ones refused) API paths answer a 503 problem and the
survey form a 503 page, each with ``Retry-After``; with the proxy restored the very same apps
answer the same requests normally: the pools drop their dead connections by themselves.
"""
from __future__ import annotations

import re
import socket
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

from services.complaints.app import build_context as complaints_context
from services.complaints.app import create_app as complaints_app
from services.registry.app import build_context as registry_context
from services.registry.app import create_app as registry_app
from services.survey.app import build_context as survey_context
from services.survey.app import create_app as survey_app
from shared.migrations import upgrade
from tests.complaints.complaints_helpers import register_client
from tests.conftest import PG_HOST, PG_PORT, auth, make_token
from tests.shared.bus_helpers import wait_for
from tests.support.tcp_proxy import TcpProxy
from tests.survey.survey_support import active_survey, invite, learn_client, token_of

FORM_TOKEN = re.compile(r'name="_form" value="([^"]+)"')
ANSWERS = {"recommend": 9, "satisfied": 4}
FORM_ANSWERS = {"recommend": "9", "satisfied": "4", "effort": "6", "quality": "4",
                "value": "good", "improve": ["speed"], "comment": "fine"}


def through(proxy: TcpProxy, url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))


@pytest.fixture
def proxy():
    with TcpProxy(PG_HOST, PG_PORT) as running:
        yield running


@pytest.fixture
def apps(postgres_urls, proxy, settings):
    """The three services' apps, their databases reached only through the proxy."""
    for service, url in postgres_urls.items():
        upgrade(service, url)
    settings = settings.with_overrides(
        database_urls={service: through(proxy, url) for service, url in postgres_urls.items()})
    contexts = {"registry": registry_context(settings), "survey": survey_context(settings),
                "complaints": complaints_context(settings)}
    factories = {"registry": registry_app, "survey": survey_app, "complaints": complaints_app}
    yield {service: (factories[service](context=ctx), ctx) for service, ctx in contexts.items()}
    for ctx in contexts.values():
        ctx.database.dispose()


def test_every_service_answers_503_with_retry_after_while_the_database_is_cut_and_recovers(
        apps, proxy, settings):
    staff = auth(make_token(settings, "staff"))
    admin = auth(make_token(settings, "admin"))
    survey_ctx, complaints_ctx = apps["survey"][1], apps["complaints"][1]
    http = {name: app.test_client() for name, (app, _ctx) in apps.items()}

    # Some data to read, a link to open, a form token to submit with: all before the cut.
    client = http["registry"].post("/api/v1/clients", headers=staff, json={
        "name": "Outage Ltd", "kind": "external", "category": "enterprise"}).get_json()
    survey = active_survey(http["survey"], admin)
    links = [token_of(invite(http["survey"], admin, survey["id"],
                             learn_client(survey_ctx, language="en"))["url"]) for _ in range(3)]
    form_page = http["survey"].get(f"/s/{links[0]}")
    assert form_page.status_code == 200
    form = {"_form": FORM_TOKEN.search(form_page.get_data(as_text=True)).group(1), **FORM_ANSWERS}
    complaint_client = register_client(complaints_ctx)
    complaint = {"client_id": complaint_client, "channel": "email", "category": "billing",
                 "severity": "medium", "title": "Charged twice", "description": "Twice in March."}

    api_calls = [
        ("registry", "GET", "/api/v1/clients", None, None),
        ("registry", "GET", f"/api/v1/clients/{client['id']}", None, None),
        ("registry", "POST", "/api/v1/clients",
         {"name": "During Ltd", "kind": "external", "category": "enterprise"}, str(uuid.uuid4())),
        ("survey", "GET", "/api/v1/surveys", None, None),
        ("survey", "GET", f"/api/v1/surveys/{survey['id']}", None, None),
        ("survey", "POST", "/api/v1/public/responses", {"token": links[1], "answers": ANSWERS}, None),
        ("complaints", "GET", "/api/v1/complaints", None, None),
        ("complaints", "POST", "/api/v1/complaints", complaint, str(uuid.uuid4())),
    ]

    def call(service, method, path, body, key):
        headers = dict(staff if service != "survey" else admin)
        if key:
            headers["Idempotency-Key"] = key
        return http[service].open(path, method=method, json=body, headers=headers)

    proxy.cut()
    for service, method, path, body, key in api_calls:
        answer = call(service, method, path, body, key)
        assert answer.status_code == 503, (service, method, path, answer.get_data(as_text=True))
        assert answer.mimetype == "application/problem+json", (service, path)
        assert answer.get_json()["status"] == 503
        assert int(answer.headers["Retry-After"]) > 0, (service, path)
    english = {"Accept-Language": "en"}
    for page in (http["survey"].get(f"/s/{links[0]}", headers=english),
                 http["survey"].post(f"/s/{links[0]}", data=form, headers=english),
                 http["survey"].get(f"/s/{links[2]}/thanks", headers=english)):
        assert page.status_code == 503
        assert page.mimetype == "text/html"
        assert int(page.headers["Retry-After"]) > 0
        assert "try again" in page.get_data(as_text=True)

    proxy.restore()
    # Recovery needs no restart; a cache may keep a failed read for a moment (Retry-After).
    assert wait_for(lambda: all(call(service, "GET", path, None, None).status_code == 200
                                for service, path in (("registry", "/api/v1/clients"),
                                                      ("survey", "/api/v1/surveys"),
                                                      ("complaints", "/api/v1/complaints"))),
                    timeout=10)
    for service, method, path, body, key in api_calls:
        answer = call(service, method, path, body, key)
        assert answer.status_code in (200, 201), (service, method, path, answer.get_data(as_text=True))
    assert http["survey"].get(f"/s/{links[0]}").status_code == 200
    submitted = http["survey"].post(f"/s/{links[0]}", data=form)
    assert submitted.status_code == 303, submitted.get_data(as_text=True)
    assert http["survey"].get(f"/s/{links[0]}/thanks").status_code == 200



def test_a_database_that_accepts_but_never_answers_is_a_503_after_the_connect_timeout(settings):
    from shared.db import CONNECT_TIMEOUT_S
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes handshakes; nobody ever answers
    try:
        url = f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/silent"
        ctx = registry_context(settings.with_overrides(
            database_urls={**settings.database_urls, "registry": url}))
        http = registry_app(context=ctx).test_client()
        started = time.monotonic()
        answer = http.get("/api/v1/clients", headers=auth(make_token(settings, "staff")))
        waited = time.monotonic() - started
        assert answer.status_code == 503 and "Retry-After" in answer.headers
        assert waited < CONNECT_TIMEOUT_S * 2 + 2
        ctx.database.dispose()
    finally:
        silent.close()
