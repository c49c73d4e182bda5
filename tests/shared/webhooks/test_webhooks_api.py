"""``/api/v1/webhooks`` on every service: admin only, the URL and event type rules, the secret
shown once, nothing sent on registering, the test ping, retries and the delivery log."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from shared.webhooks.policy import UrlRefused, WebhookPolicy
from tests.conftest import auth, make_token
from tests.shared.webhooks.conftest import LOCAL_HOSTS, load

HOOK = "https://127.0.0.1:9/hooks/clientloop"
PATHS = ("/api/v1/webhooks", "/api/v1/webhooks/{webhook_id}",
         "/api/v1/webhooks/{webhook_id}/deliveries",
         "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
         "/api/v1/webhooks/{webhook_id}/test")


@pytest.fixture
def http(registry):
    return registry[1].test_client()


@pytest.fixture
def admin(local_settings):
    return auth(make_token(local_settings, "admin"))


def deliveries_in_db(ctx) -> list:
    table = ctx.tables.webhook_delivery
    with ctx.database.transaction() as session:
        return session.execute(select(table)).mappings().all()


def create(http, admin, **body):
    response = http.post("/api/v1/webhooks", headers=admin,
                         json={"url": HOOK, "event_types": ["client.*"], **body})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


# -- registering ----------------------------------------------------------------------------------
def test_create_answers_the_secret_once_and_delivers_nothing(registry, http, admin):
    ctx, _app = registry
    response = http.post("/api/v1/webhooks", headers=admin, json={
        "url": HOOK, "event_types": ["client.*", "requirement.created"], "description": "CRM"})
    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.get_json()
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 20
    assert created["url"] == HOOK and created["enabled"] is True
    assert created["event_types"] == ["client.*", "requirement.created"]
    assert response.headers["Location"].endswith(f"/api/v1/webhooks/{created['id']}")
    one = http.get(f"/api/v1/webhooks/{created['id']}", headers=admin)
    assert one.status_code == 200 and "secret" not in one.get_json()
    assert one.get_json()["description"] == "CRM"
    listing = http.get("/api/v1/webhooks", headers=admin).get_json()
    assert listing["total"] == 1 and [item["id"] for item in listing["items"]] == [created["id"]]
    assert "secret" not in listing["items"][0]
    assert created["secret"] not in http.get("/api/v1/webhooks", headers=admin).get_data(as_text=True)
    assert deliveries_in_db(ctx) == []  # nothing is sent on creating an endpoint


def test_a_repeated_idempotency_key_creates_one_endpoint_and_withholds_the_secret(http, admin):
    headers = {**admin, "Idempotency-Key": "hook-1"}
    first = http.post("/api/v1/webhooks", headers=headers, json={"url": HOOK, "event_types": ["*"]})
    again = http.post("/api/v1/webhooks", headers=headers, json={"url": HOOK, "event_types": ["*"]})
    assert first.status_code == again.status_code == 201
    assert first.get_json()["secret"].startswith("whsec_")
    assert again.get_json()["secret"] is None and again.headers.get("Secret-Withheld")
    assert again.get_json()["id"] == first.get_json()["id"]
    assert http.get("/api/v1/webhooks", headers=admin).get_json()["total"] == 1


@pytest.mark.parametrize("url", ["https://example.com/hook", "https://10.1.2.3/hook"])
def test_a_url_outside_the_allowed_hosts_is_a_422_naming_url(http, admin, url):
    response = http.post("/api/v1/webhooks", headers=admin, json={"url": url, "event_types": ["*"]})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    errors = response.get_json()["errors"]
    with pytest.raises(UrlRefused) as refused:
        WebhookPolicy(allow_private=True, allow_hosts=LOCAL_HOSTS).check(url)
    assert errors == {"url": [str(refused.value)]}
    assert http.get("/api/v1/webhooks", headers=admin).get_json()["total"] == 0


@pytest.mark.parametrize("url", ["http://203.0.113.9/hook", "https://10.1.2.3/hook",
                                 "https://127.0.0.1/hook", "https://[::1]/hook",
                                 "https://user:pw@203.0.113.9/hook", "ftp://203.0.113.9/"])
def test_without_private_addresses_http_and_private_urls_are_refused(settings, url):
    # the production defaults (no list of hosts: these URLs are refused without any DNS lookup)
    settings = settings.with_overrides(webhooks_allow_private=False, webhooks_allow_hosts=None)
    ctx, app = load("registry", settings)
    try:
        response = app.test_client().post("/api/v1/webhooks", headers=auth(make_token(settings, "admin")),
                                          json={"url": url, "event_types": ["*"]})
        assert response.status_code == 422, response.get_data(as_text=True)
        with pytest.raises(UrlRefused) as refused:
            WebhookPolicy().check(url)
        assert response.get_json()["errors"]["url"] == [str(refused.value)]
    finally:
        ctx.database.dispose()


@pytest.mark.parametrize("patterns,bad", [
    (["complaint.*"], "complaint.*"),            # another service's events
    (["client.*", "nothing.*"], "nothing.*"),
    (["client.registred"], "client.registred"),
    (["client"], "client"),
    (["clie*"], "clie*"),
    (["*.registered"], "*.registered"),
    ([".*"], ".*"),
])
def test_event_type_patterns_that_match_nothing_of_this_service_are_a_422(http, admin, patterns, bad):
    response = http.post("/api/v1/webhooks", headers=admin, json={"url": HOOK, "event_types": patterns})
    assert response.status_code == 422, response.get_data(as_text=True)
    errors = response.get_json()["errors"]
    assert list(errors) == ["event_types"] and bad in errors["event_types"][0]


@pytest.mark.parametrize("patterns", [["*"], ["client.*"], ["client.value.*"],
                                      ["client.registered", "requirement.*"]])
def test_known_types_prefixes_and_the_star_are_accepted(http, admin, patterns):
    response = http.post("/api/v1/webhooks", headers=admin, json={"url": HOOK, "event_types": patterns})
    assert response.status_code == 201, response.get_data(as_text=True)


def test_a_refused_url_and_bad_shapes_are_named_together(http, admin):
    response = http.post("/api/v1/webhooks", headers=admin, json={
        "url": "https://example.com/", "event_types": [], "colour": "red"})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"url", "event_types", "colour"}


@pytest.mark.parametrize("body", [{}, {"url": HOOK}, {"event_types": ["*"]},
                                  {"url": 5, "event_types": ["*"]}, {"url": HOOK, "event_types": "*"}])
def test_missing_or_mistyped_fields_are_a_422(http, admin, body):
    response = http.post("/api/v1/webhooks", headers=admin, json=body)
    assert response.status_code == 422 and response.get_json()["errors"]


def test_malformed_json_is_a_400_problem(http, admin):
    response = http.post("/api/v1/webhooks", headers=admin, data='{"url": ', content_type="application/json")
    assert response.status_code == 400 and response.mimetype == "application/problem+json"


# -- access -----------------------------------------------------------------------------------------
def every_operation(webhook_id: str, delivery_id: str):
    return [("GET", "/api/v1/webhooks", None), ("POST", "/api/v1/webhooks", {"url": HOOK, "event_types": ["*"]}),
            ("GET", f"/api/v1/webhooks/{webhook_id}", None),
            ("PATCH", f"/api/v1/webhooks/{webhook_id}", {"enabled": False}),
            ("DELETE", f"/api/v1/webhooks/{webhook_id}", None),
            ("GET", f"/api/v1/webhooks/{webhook_id}/deliveries", None),
            ("POST", f"/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", None),
            ("POST", f"/api/v1/webhooks/{webhook_id}/test", None)]


@pytest.mark.parametrize("role", ["staff", "analyst"])
def test_staff_and_analysts_are_refused_every_operation(registry, http, admin, local_settings, role):
    created = create(http, admin)
    ping = http.post(f"/api/v1/webhooks/{created['id']}/test", headers=admin).get_json()
    headers = auth(make_token(local_settings, role))
    for method, path, body in every_operation(created["id"], ping["id"]):
        response = http.open(path, method=method, headers=headers, json=body)
        assert response.status_code == 403, (method, path, response.get_data(as_text=True))
        assert response.mimetype == "application/problem+json"
    assert http.get(f"/api/v1/webhooks/{created['id']}", headers=admin).get_json()["enabled"] is True
    assert len(deliveries_in_db(registry[0])) == 1


def test_no_token_is_a_401_on_every_operation(http):
    for method, path, body in every_operation(str(uuid.uuid4()), str(uuid.uuid4())):
        response = http.open(path, method=method, json=body)
        assert response.status_code == 401, (method, path)
        assert "Bearer" in response.headers.get("WWW-Authenticate", "")


def test_an_unknown_endpoint_or_delivery_is_a_404_problem(http, admin):
    created = create(http, admin)
    unknown, nobody = str(uuid.uuid4()), str(uuid.uuid4())
    for method, path, body in every_operation(unknown, nobody)[2:]:
        response = http.open(path, method=method, headers=admin, json=body)
        assert response.status_code == 404 and response.mimetype == "application/problem+json", (method, path)
    retry = http.post(f"/api/v1/webhooks/{created['id']}/deliveries/{nobody}/retry", headers=admin)
    assert retry.status_code == 404


# -- changing and deleting -----------------------------------------------------------------------------
def test_patch_disables_enables_and_changes_an_endpoint(http, admin):
    created = create(http, admin)
    path = f"/api/v1/webhooks/{created['id']}"
    disabled = http.patch(path, headers=admin, json={"enabled": False}).get_json()
    assert disabled["enabled"] is False and disabled["disabled_reason"]
    assert disabled["status"] == "disabled"
    enabled = http.patch(path, headers=admin, json={"enabled": True}).get_json()
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None
    assert enabled["status"] == "enabled"
    changed = http.patch(path, headers=admin, json={
        "url": "https://localhost:8443/other", "event_types": ["client.registered"],
        "description": "new"})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert changed.get_json()["url"] == "https://localhost:8443/other"
    assert changed.get_json()["event_types"] == ["client.registered"]
    assert "secret" not in changed.get_json()


def test_patch_refuses_a_url_or_pattern_the_rules_refuse_and_changes_nothing(http, admin):
    created = create(http, admin)
    path = f"/api/v1/webhooks/{created['id']}"
    response = http.patch(path, headers=admin, json={"url": "https://example.com/x",
                                                     "event_types": ["survey.*"]})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"url", "event_types"}
    assert http.get(path, headers=admin).get_json()["url"] == HOOK


def test_delete_removes_the_endpoint_and_its_deliveries(registry, http, admin):
    created = create(http, admin)
    http.post(f"/api/v1/webhooks/{created['id']}/test", headers=admin)
    response = http.delete(f"/api/v1/webhooks/{created['id']}", headers=admin)
    assert response.status_code == 204 and response.get_data() == b""
    assert http.get(f"/api/v1/webhooks/{created['id']}", headers=admin).status_code == 404
    assert deliveries_in_db(registry[0]) == []
    assert http.delete(f"/api/v1/webhooks/{created['id']}", headers=admin).status_code == 404


# -- the test ping, deliveries and retries ----------------------------------------------------------------
def test_the_test_ping_queues_exactly_one_delivery(registry, http, admin):
    created = create(http, admin)
    response = http.post(f"/api/v1/webhooks/{created['id']}/test", headers=admin)
    assert response.status_code == 202, response.get_data(as_text=True)
    ping = response.get_json()
    assert ping["event_type"] == "webhook.test" and ping["status"] == "pending" and ping["attempts"] == 0
    rows = deliveries_in_db(registry[0])
    assert len(rows) == 1 and rows[0]["id"] == ping["id"] and rows[0]["event_id"] == ping["event_id"]
    listing = http.get(f"/api/v1/webhooks/{created['id']}/deliveries", headers=admin).get_json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == ping["id"]


def test_retry_puts_a_failed_delivery_back_to_pending_due_now(registry, http, admin):
    ctx, _app = registry
    created = create(http, admin)
    ping = http.post(f"/api/v1/webhooks/{created['id']}/test", headers=admin).get_json()
    later = ctx.clock() + timedelta(days=3)
    table = ctx.tables.webhook_delivery
    with ctx.database.transaction() as session:
        session.execute(update(table).where(table.c.id == ping["id"]).values(
            status="failed", attempts=8, last_status_code=500, next_attempt_at=later))
    failed = http.get(f"/api/v1/webhooks/{created['id']}/deliveries?status=failed", headers=admin).get_json()
    assert [item["id"] for item in failed["items"]] == [ping["id"]]
    assert failed["items"][0]["last_status_code"] == 500 and failed["items"][0]["attempts"] == 8
    assert failed["items"][0]["last_response_code"] == 500
    response = http.post(f"/api/v1/webhooks/{created['id']}/deliveries/{ping['id']}/retry", headers=admin)
    assert response.status_code == 202, response.get_data(as_text=True)
    retried = response.get_json()
    assert retried["status"] == "pending" and retried["attempts"] == 0
    assert retried["next_attempt_at"] < later.isoformat()
    row = deliveries_in_db(ctx)[0]
    assert row["status"] == "pending" and row["attempts"] == 0
    assert http.get(f"/api/v1/webhooks/{created['id']}/deliveries?status=failed",
                    headers=admin).get_json()["total"] == 0


def test_a_delivery_of_another_endpoint_cannot_be_retried_through_this_one(http, admin):
    first, second = create(http, admin), create(http, admin)
    ping = http.post(f"/api/v1/webhooks/{first['id']}/test", headers=admin).get_json()
    response = http.post(f"/api/v1/webhooks/{second['id']}/deliveries/{ping['id']}/retry", headers=admin)
    assert response.status_code == 404


def test_deliveries_are_paginated_newest_first_and_filtered_by_status(registry, http, admin):
    ctx, _app = registry
    created = create(http, admin)
    ids = [http.post(f"/api/v1/webhooks/{created['id']}/test", headers=admin).get_json()["id"]
           for _ in range(3)]
    table = ctx.tables.webhook_delivery
    with ctx.database.transaction() as session:
        for age, delivery_id in enumerate(reversed(ids)):
            session.execute(update(table).where(table.c.id == delivery_id).values(
                created_at=ctx.clock() - timedelta(minutes=age)))
    path = f"/api/v1/webhooks/{created['id']}/deliveries"
    first = http.get(f"{path}?per_page=2", headers=admin).get_json()
    assert (first["total"], first["page"], first["per_page"]) == (3, 1, 2)
    second = http.get(f"{path}?per_page=2&page=2", headers=admin).get_json()
    assert [item["id"] for item in first["items"] + second["items"]] == list(reversed(ids))
    assert http.get(f"{path}?status=delivered", headers=admin).get_json()["total"] == 0
    assert http.get(f"{path}?status=sent", headers=admin).status_code == 422
    assert http.get(f"{path}?per_page=500", headers=admin).status_code == 422


# -- every service ------------------------------------------------------------------------------------
@pytest.mark.parametrize("service", ["registry", "survey", "complaints"])
def test_every_service_serves_and_documents_the_webhooks_api(local_settings, service):
    ctx, app = load(service, local_settings)
    try:
        document = app.test_client().get("/openapi.json").get_json()
        for path in PATHS:
            assert path in document["paths"], path
        assert set(document["paths"]["/api/v1/webhooks"]) >= {"get", "post"}
        assert set(document["paths"]["/api/v1/webhooks/{webhook_id}"]) >= {"get", "patch", "delete"}
        assert "WebhookCreated" in document["components"]["schemas"]
        http, admin = app.test_client(), auth(make_token(local_settings, "admin"))
        own = {"registry": "client.*", "survey": "survey.*", "complaints": "complaint.*"}[service]
        created = http.post("/api/v1/webhooks", headers=admin, json={"url": HOOK, "event_types": [own]})
        assert created.status_code == 201, created.get_data(as_text=True)
        other = "complaint.*" if service != "complaints" else "client.*"
        refused = http.post("/api/v1/webhooks", headers=admin, json={"url": HOOK, "event_types": [other]})
        assert refused.status_code == 422
        table = ctx.tables.webhook_endpoint
        with ctx.database.transaction() as session:
            assert session.execute(select(func.count()).select_from(table)).scalar_one() == 1
    finally:
        ctx.database.dispose()
