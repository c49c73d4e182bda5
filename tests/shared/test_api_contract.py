"""The HTTP contract of every service, driven by its ``/openapi.json``.

The generic checks walk every operation each service documents, so an endpoint added later is
covered without touching this file: auth (401 without, with an expired or foreign token; 403
for a role that may not), problem details on every error, 404 for an unknown id or path, 405,
400 for malformed JSON, 413 for an oversized body, the list shape and its ``per_page`` limit.
The OpenAPI document itself must be valid and cover every URL rule under ``/api/v1``.

Then the registry's clients, the worked example of a resource: field errors, ``If-Match``,
``Idempotency-Key``, list filters, archive and erase, the events they write, and a sweep of
hostile inputs (no 500, nothing created or changed on a 4xx) on SQLite and PostgreSQL.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import jsonschema
import pytest
from flask import Flask
from openapi_spec_validator import validate as validate_openapi
from sqlalchemy import func, select

from shared.auth import issue_token
from shared.config import Settings
from shared.events import validate_data, validate_envelope
from shared.migrations import upgrade
from shared.runtime import available_services, service_module
from tests.conftest import TEST_SECRET, auth

SECRET = TEST_SECRET
API = "/api/v1/"
PUBLIC_API = "/api/v1/public/"
WRITE_METHODS = ("post", "put", "patch", "delete")
BODY_METHODS = ("post", "put", "patch")
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
PROBLEM_TYPE = "application/problem+json"
PROBLEM_KEYS = {"type", "title", "status", "detail"}
SERVICES = available_services()


# -- helpers ------------------------------------------------------------------------------------
def token(role: str, name: str | None = None, *, secret: str = SECRET, now: datetime | None = None,
          days: int = 1) -> str:
    return issue_token(secret, name=name or f"{role}-user", role=role, days=days,
                       now=now or datetime.now(timezone.utc))


def problem_failure(response, status: int | None = None) -> str | None:
    """Why ``response`` is not a problem-details answer (with ``status``), or None."""
    if status is not None and response.status_code != status:
        return f"status {response.status_code} (expected {status}): {response.get_data(as_text=True)[:300]}"
    if response.mimetype != PROBLEM_TYPE:
        return f"Content-Type {response.content_type!r}, not {PROBLEM_TYPE}"
    try:
        body = json.loads(response.get_data(as_text=True))
    except ValueError:
        return f"body is not JSON: {response.get_data(as_text=True)[:200]!r}"
    if not isinstance(body, dict) or not PROBLEM_KEYS <= set(body):
        return f"body lacks {sorted(PROBLEM_KEYS)}: {body!r}"
    if body["status"] != response.status_code:
        return f"body status {body['status']} differs from HTTP status {response.status_code}"
    if not all(isinstance(body[key], str) and body[key] for key in ("type", "title", "detail")):
        return f"type, title and detail must be non-empty strings: {body!r}"
    return None


def assert_problem(response, status: int) -> dict[str, Any]:
    failure = problem_failure(response, status)
    assert failure is None, failure
    return response.get_json(force=True)


def rule_to_openapi(rule: str) -> str:
    """``/api/v1/clients/<uuid:client_id>`` → ``/api/v1/clients/{client_id}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


@dataclass
class Operation:
    method: str
    path: str            # as in the OpenAPI document: /api/v1/clients/{client_id}
    spec: dict
    parameters: list
    access: str | None   # "public", "admin" or None (the default rules)

    @property
    def public(self) -> bool:
        return self.path.startswith(PUBLIC_API) or self.access == "public"

    @property
    def path_parameters(self) -> list[dict]:
        return [p for p in self.parameters if p.get("in") == "path"]

    @property
    def has_uuid_id(self) -> bool:
        return any(p.get("schema", {}).get("format") == "uuid" for p in self.path_parameters)

    @property
    def paginated(self) -> bool:
        return any(p.get("in") == "query" and p.get("name") == "per_page" for p in self.parameters)

    def url(self, **query: str) -> str:
        """The path with every parameter filled with a value that names nothing that exists."""
        url = self.path
        for parameter in self.path_parameters:
            url = url.replace("{%s}" % parameter["name"], _unknown_value(parameter.get("schema", {})))
        required = {p["name"]: _sample_value(p.get("schema", {})) for p in self.parameters
                    if p.get("in") == "query" and p.get("required")}
        required.update(query)
        if required:
            url += "?" + "&".join(f"{key}={value}" for key, value in required.items())
        return url

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def _unknown_value(schema: dict) -> str:
    if schema.get("type") == "integer":
        return "987654321"
    if schema.get("format") == "uuid" or schema.get("type", "string") == "string":
        return str(uuid.uuid4()) if schema.get("format") == "uuid" else "unknown-value"
    return "unknown-value"


def _sample_value(schema: dict) -> str:
    if schema.get("enum"):
        return str(schema["enum"][0])
    if schema.get("format") == "date":
        return datetime.now(timezone.utc).date().isoformat()
    if schema.get("format") == "date-time":
        return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if schema.get("type") in ("integer", "number"):
        return str(schema.get("minimum", 1))
    if schema.get("type") == "boolean":
        return "true"
    return "x"


def view_access(app: Flask) -> dict[tuple[str, str], str | None]:
    """(OpenAPI path, method) → the access marker of the view method (public/admin/None)."""
    access: dict[tuple[str, str], str | None] = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in rule.methods or ():
            target = getattr(view_class, method.lower(), None) if view_class else view
            access[(rule_to_openapi(rule.rule), method.lower())] = getattr(target, "_clientloop_access", None)
    return access


@dataclass
class Service:
    name: str
    app: Flask
    ctx: Any
    document: dict
    operations: list[Operation]

    def client(self):
        return self.app.test_client()


def load_service(name: str, settings: Settings) -> Service:
    upgrade(name, settings.database_url(name))
    module = service_module(name)
    ctx = module.build_context(settings)
    app = module.create_app(context=ctx)
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200, response.get_data(as_text=True)
    document = response.get_json()
    access = view_access(app)
    operations = []
    for path, item in document.get("paths", {}).items():
        if not path.startswith(API):
            continue
        for method in HTTP_METHODS:
            if method in item:
                parameters = list(item.get("parameters", [])) + list(item[method].get("parameters", []))
                operations.append(Operation(method, path, item[method], parameters,
                                            access.get((path, method))))
    return Service(name, app, ctx, document, operations)


@pytest.fixture(scope="module")
def contract_settings(tmp_path_factory) -> Settings:
    # every check calls each operation several times: public endpoints' rate limit is raised
    # so that a 429 never hides the answer under test (rate limits have their own tests)
    return Settings.from_env({}, data_dir=tmp_path_factory.mktemp("contract") / "data",
                             secret_key=SECRET, retry_delays_s=(0.05, 0.1), relay_poll_s=0.05,
                             ratelimit_public="100000 per minute")


@pytest.fixture(scope="module", params=SERVICES)
def service(request, contract_settings) -> Service:
    loaded = load_service(request.param, contract_settings)
    yield loaded
    loaded.ctx.database.dispose()


def run_checks(operations, check) -> None:
    """Run ``check(op)`` (returns None or a failure text) on each operation; report them all."""
    failures = [f"{op}: {failure}" for op in operations if (failure := check(op))]
    assert not failures, "\n".join(failures)


def send(client, op: Operation, url: str | None = None, **kwargs):
    return client.open(url or op.url(), method=op.method.upper(), **kwargs)


# -- the generic contract ---------------------------------------------------------------------
def test_every_service_documents_api_operations(service):
    assert service.operations, f"{service.name} documents no operation under {API}"


def test_no_token_is_401_problem_on_every_protected_operation(service):
    http = service.client()

    def check(op):
        extra = {"data": '{"broken": ', "content_type": "application/json"} if op.method in BODY_METHODS else {}
        response = send(http, op, **extra)  # the 401 comes before the body is looked at
        failure = problem_failure(response, 401)
        if failure is None and "Bearer" not in response.headers.get("WWW-Authenticate", ""):
            failure = "no 'WWW-Authenticate: Bearer' header"
        return failure

    run_checks([op for op in service.operations if not op.public], check)


@pytest.mark.parametrize("kind", ["expired", "another key", "tampered", "not a token", "basic scheme"])
def test_an_invalid_token_is_401_problem_on_every_protected_operation(service, kind):
    http = service.client()
    valid = token("admin")
    header = {
        "expired": f"Bearer {token('admin', now=datetime.now(timezone.utc) - timedelta(days=3), days=1)}",
        "another key": f"Bearer {token('admin', secret='another-installation-secret-0123456789abcdef')}",
        "tampered": f"Bearer {valid.rsplit('.', 1)[0]}.{'B' if valid.rsplit('.', 1)[1][0] == 'A' else 'A'}"
                    f"{valid.rsplit('.', 1)[1][1:]}",
        "not a token": "Bearer hello",
        "basic scheme": "Basic YWRtaW46YWRtaW4=",
    }[kind]
    run_checks([op for op in service.operations if not op.public],
               lambda op: problem_failure(send(http, op, headers={"Authorization": header}), 401))


def test_an_analyst_may_not_write(service):
    http = service.client()
    analyst = auth(token("analyst"))
    run_checks([op for op in service.operations if not op.public and op.method in WRITE_METHODS],
               lambda op: problem_failure(send(http, op, headers=analyst, json={}), 403))


def test_staff_may_not_use_admin_only_operations(service):
    http = service.client()
    staff = auth(token("staff"))
    run_checks([op for op in service.operations if op.access == "admin"],
               lambda op: problem_failure(send(http, op, headers=staff, json={}), 403))


def test_every_role_may_read(service):
    """Every role reads every non-public GET, except the admin-only ones (webhooks): there
    the admin may (the others' 403 is the test above)."""
    http = service.client()

    def check(op):
        for role in ("admin",) if op.access == "admin" else ("analyst", "staff", "admin"):
            response = send(http, op, headers=auth(token(role)))
            if response.status_code in (401, 403) or response.status_code >= 500:
                return f"{role}: {response.status_code} {response.get_data(as_text=True)[:200]}"
        return None

    run_checks([op for op in service.operations if op.method == "get" and not op.public], check)


def test_public_operations_live_under_the_public_prefix_and_need_no_token(service):
    outside = [str(op) for op in service.operations if op.access == "public" and not op.path.startswith(PUBLIC_API)]
    assert not outside, f"public views outside {PUBLIC_API}: {outside}"
    http = service.client()

    def check(op):
        response = send(http, op, json={})
        if response.status_code in (401, 403) or response.status_code >= 500:
            return f"{response.status_code} without a token"
        return None

    run_checks([op for op in service.operations if op.public], check)


def test_an_unknown_id_is_404_problem(service):
    http = service.client()
    admin = auth(token("admin"))
    run_checks([op for op in service.operations if op.method == "get" and op.has_uuid_id and not op.public],
               lambda op: problem_failure(send(http, op, headers=admin), 404))


def test_an_unknown_path_is_404_problem(service):
    http = service.client()
    admin = auth(token("admin"))
    for path in ("/api/v1/no-such-thing", "/api/v1/", "/no-such-page", "/api/v2/clients",
                 "/api/v1/clients/not-a-uuid/nothing"):
        for method in ("GET", "POST", "DELETE"):
            assert_problem(http.open(path, method=method, headers=admin), 404)
            assert_problem(http.open(path, method=method), 404)


def test_a_wrong_method_is_405_problem_with_allow(service):
    http = service.client()
    admin = auth(token("admin"))
    documented: dict[str, set[str]] = {}
    for op in service.operations:
        documented.setdefault(op.path, set()).add(op.method)
    failures = []
    for op in service.operations:
        for method in sorted(set(HTTP_METHODS) - documented[op.path]):
            response = http.open(op.url(), method=method.upper(), headers=admin, json={})
            failure = problem_failure(response, 405)
            if failure is None and not response.headers.get("Allow"):
                failure = "no Allow header"
            if failure:
                failures.append(f"{method.upper()} {op.path}: {failure}")
    assert not failures, "\n".join(sorted(set(failures)))


@pytest.mark.parametrize("body", ['{"name": ', "{'single': 'quotes'}", "[1, 2,]", "nope", '{"a": 1}}',
                                  '{"a": NaN', b'{"a": "\xff\xfe"}'], ids=lambda b: repr(b)[:20])
def test_malformed_json_is_400_problem_on_every_write_with_a_body(service, body):
    http = service.client()
    admin = auth(token("admin"))
    run_checks([op for op in service.operations if op.method in BODY_METHODS],
               lambda op: problem_failure(send(http, op, headers=admin, data=body,
                                               content_type="application/json"), 400))


def test_a_body_that_is_not_json_is_400_problem(service):
    http = service.client()
    admin = auth(token("admin"))
    run_checks([op for op in service.operations if op.method in BODY_METHODS],
               lambda op: problem_failure(send(http, op, headers=admin, data="name=x",
                                               content_type="application/x-www-form-urlencoded"), 400))


def test_a_body_over_the_size_limit_is_413_problem(service):
    http = service.client()
    admin = auth(token("admin"))
    limit = service.ctx.settings.max_body_bytes
    oversized = json.dumps({"name": "x" * (limit + 10)})
    run_checks([op for op in service.operations if op.method in BODY_METHODS],
               lambda op: problem_failure(send(http, op, headers=admin, data=oversized,
                                               content_type="application/json"), 413))


def test_lists_have_the_body_shape_and_refuse_per_page_over_200(service):
    http = service.client()
    admin = auth(token("admin"))
    lists = [op for op in service.operations if op.method == "get" and op.paginated]

    def check(op):
        response = send(http, op, url=op.url(per_page="500"), headers=admin)
        failure = problem_failure(response, 422)
        if failure:
            return failure
        if "per_page" not in (response.get_json().get("errors") or {}):
            return f"errors do not name per_page: {response.get_json()}"
        for bad in ("0", "-1", "abc", "201"):
            if (status := send(http, op, url=op.url(per_page=bad), headers=admin).status_code) != 422:
                return f"per_page={bad} gave {status}"
        if not op.path_parameters:
            page = send(http, op, url=op.url(page="1", per_page="200"), headers=admin)
            body = page.get_json()
            if page.status_code != 200 or set(body) < {"items", "page", "per_page", "total"}:
                return f"list shape: {page.status_code} {body}"
            if (body["page"], body["per_page"]) != (1, 200) or not isinstance(body["items"], list):
                return f"list shape: {body}"
        return None

    run_checks(lists, check)


def test_every_collection_read_is_paginated(service):
    """A GET answering ``{"items": [...]}`` is a list: it takes ``page`` and ``per_page``."""
    schemas = service.document.get("components", {}).get("schemas", {})

    def check(op):
        if op.path.startswith("/api/v1/reports/"):
            return None  # a report's rows (the root-cause Pareto's items) are all of it
        content = op.spec.get("responses", {}).get("200", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema", {})
        if "$ref" in schema:
            schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
        if "items" in schema.get("properties", {}) and not op.paginated:
            return "answers a list of items but takes no per_page"
        return None

    run_checks([op for op in service.operations if op.method == "get"], check)


# -- the OpenAPI document -----------------------------------------------------------------------
def test_openapi_is_a_valid_openapi_3_document(service):
    assert service.document["openapi"].startswith("3.")
    validate_openapi(service.document)


def test_openapi_covers_every_api_url_rule(service):
    documented = {(op.path, op.method) for op in service.operations}
    served = set()
    for rule in service.app.url_map.iter_rules():
        if not rule.rule.startswith(API):
            continue
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                served.add((rule_to_openapi(rule.rule), method.lower()))
    assert served, f"{service.name} serves nothing under {API}"
    assert served - documented == set(), f"served but not documented: {sorted(served - documented)}"
    assert documented - served == set(), f"documented but not served: {sorted(documented - served)}"


def test_openapi_documents_errors_as_problem_details(service):
    """Error responses in the document are what the service really sends."""
    components = service.document.get("components", {})
    schemas = components.get("schemas", {})
    failures = []
    for name, response in components.get("responses", {}).items():
        content = response.get("content", {})
        if not content:
            continue
        if list(content) != [PROBLEM_TYPE]:
            failures.append(f"response {name} has content types {list(content)}")
            continue
        ref = content[PROBLEM_TYPE].get("schema", {}).get("$ref", "")
        schema = schemas.get(ref.rsplit("/", 1)[-1], {})
        if not PROBLEM_KEYS <= set(schema.get("properties", {})):
            failures.append(f"response {name} schema {ref} lacks {sorted(PROBLEM_KEYS)}")
    assert not failures, "\n".join(failures)
    problem_schema = schemas.get("Problem")
    assert problem_schema, "no Problem schema in components"
    http = service.client()
    admin = auth(token("admin"))
    samples = [http.get("/api/v1/nothing-here", headers=admin), http.get(service.operations[0].url())]
    samples += [send(http, op, headers=admin, data="{", content_type="application/json")
                for op in service.operations if op.method in BODY_METHODS][:1]
    for sample in samples:
        body = assert_problem(sample, sample.status_code)
        jsonschema.validate(body, _openapi_schema_to_json_schema(problem_schema))


def _openapi_schema_to_json_schema(schema: dict) -> dict:
    """OpenAPI 3.0 ``nullable`` → JSON Schema types (enough for the Problem schema)."""
    converted = json.loads(json.dumps(schema))
    for prop in converted.get("properties", {}).values():
        if prop.pop("nullable", False) and "type" in prop:
            prop["type"] = [prop["type"], "null"]
    return converted


def test_health_readiness_metrics_and_openapi_need_no_token(service):
    http = service.client()
    assert http.get("/healthz").status_code == 200
    assert http.get("/readyz").status_code == 200, http.get("/readyz").get_data(as_text=True)
    assert http.get("/metrics").status_code == 200
    assert http.get("/openapi.json").status_code == 200


# -- the registry's clients -------------------------------------------------------------------
pytestmark_registry = pytest.mark.skipif("registry" not in SERVICES, reason="no registry service")

ACME = {"name": "Acme 华为", "kind": "external", "category": "enterprise"}


@pytest.fixture
def registry(settings):
    loaded = load_service("registry", settings)
    yield loaded
    loaded.ctx.database.dispose()


@pytest.fixture
def http(registry):
    return registry.client()


@pytest.fixture
def staff():
    return auth(token("staff", "alice"))


@pytest.fixture
def admin():
    return auth(token("admin", "root"))


def create(http, headers, **fields):
    response = http.post("/api/v1/clients", json={**ACME, **fields}, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def count_rows(registry, table_name: str) -> int:
    from services.registry.adapters.orm import metadata
    table = metadata.tables[table_name]
    with registry.ctx.database.transaction() as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def outbox_events(registry) -> list[dict]:
    from services.registry.adapters.orm import platform
    with registry.ctx.database.transaction() as session:
        rows = session.execute(select(platform.outbox).order_by(platform.outbox.c.id)).all()
    return [{"event_type": row.event_type, "subject": row.subject, "envelope": json.loads(row.body)}
            for row in rows]


def total(http, headers, **query) -> int:
    response = http.get("/api/v1/clients", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["total"]


@pytestmark_registry
@pytest.mark.parametrize("body, field", [
    ({**ACME, "kind": "internal", "category": "enterprise"}, "category"),
    ({**ACME, "kind": "potential", "category": "end_user"}, "category"),
    ({**ACME, "power": 7}, "power"),
    ({**ACME, "interest": 0}, "interest"),
    ({**ACME, "colour": "blue"}, "colour"),
    ({**ACME, "annual_value": {"amount": 1000, "currency": "CNY"}}, "annual_value.amount"),
    ({**ACME, "annual_value": {"amount": "12.345", "currency": "CNY"}}, "annual_value.amount"),
    ({**ACME, "annual_value": {"amount": "1000.00", "currency": "USD"}}, "annual_value.currency"),
    ({**ACME, "contacts": [{"name": "Li", "email": "not-an-email"}]}, "contacts.0.email"),
    ({**ACME, "kind": "partner"}, "kind"),
    ({"kind": "external", "category": "enterprise"}, "name"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_client_create_field_errors_are_422_naming_the_field(registry, http, staff, body, field):
    events = len(outbox_events(registry))
    response = http.post("/api/v1/clients", json=body, headers=staff)
    problem = assert_problem(response, 422)
    assert field in problem["errors"], problem
    assert all(isinstance(messages, list) and messages for messages in problem["errors"].values())
    assert total(http, staff, status="all") == 0
    assert len(outbox_events(registry)) == events


@pytestmark_registry
@pytest.mark.parametrize("changes, field", [
    ({"category": "government", "kind": "internal"}, "category"),
    ({"kind": "internal"}, "category"),          # the current category does not fit the new kind
    ({"power": 7}, "power"),
    ({"id": str(uuid.uuid4())}, "id"),
    ({"version": 5}, "version"),
    ({"annual_value": {"amount": 5, "currency": "CNY"}}, "annual_value.amount"),
    ({"annual_value": {"amount": "5.00", "currency": "EUR"}}, "annual_value.currency"),
    ({"name": ""}, "name"),
    ({"name": None}, "name"),
])
def test_client_patch_field_errors_are_422_and_change_nothing(registry, http, staff, changes, field):
    client = create(http, staff)
    events = len(outbox_events(registry))
    response = http.patch(f"/api/v1/clients/{client['id']}", json=changes, headers=staff)
    problem = assert_problem(response, 422)
    assert field in problem["errors"], problem
    after = http.get(f"/api/v1/clients/{client['id']}", headers=staff).get_json()
    assert after == client
    assert len(outbox_events(registry)) == events


@pytestmark_registry
def test_etag_is_the_version_and_a_stale_if_match_is_412(registry, http, staff):
    response = http.post("/api/v1/clients", json=ACME, headers=staff)
    client = response.get_json()
    assert response.headers["ETag"] == '"1"' and client["version"] == 1
    assert response.headers["Location"].endswith(f"/api/v1/clients/{client['id']}")
    url = f"/api/v1/clients/{client['id']}"
    assert http.get(url, headers=staff).headers["ETag"] == '"1"'

    patched = http.patch(url, json={"owner": "Wang Fang"}, headers={**staff, "If-Match": '"1"'})
    assert patched.status_code == 200, patched.get_data(as_text=True)
    assert patched.get_json()["version"] == 2 and patched.headers["ETag"] == '"2"'
    stale = http.patch(url, json={"owner": "Someone Else"}, headers={**staff, "If-Match": '"1"'})
    assert_problem(stale, 412)
    assert http.get(url, headers=staff).get_json()["owner"] == "Wang Fang"
    assert http.patch(url, json={"owner": "Zhang Wei"}, headers=staff).get_json()["version"] == 3  # no If-Match
    assert_problem(http.delete(url, headers={**staff, "If-Match": '"2"'}), 412)
    assert http.get(url, headers=staff).get_json()["status"] == "active"
    archived = http.delete(url, headers={**staff, "If-Match": '"3"'})
    assert archived.status_code == 200, archived.get_data(as_text=True)
    assert archived.get_json()["status"] == "archived" and archived.headers["ETag"] == '"4"'
    assert_problem(http.post(f"{url}/erase", headers={**auth(token("admin")), "If-Match": '"3"'}), 412)


@pytestmark_registry
def test_an_idempotency_key_replay_returns_the_first_answer_and_creates_nothing(registry, http, staff):
    key = {"Idempotency-Key": "create-acme-1"}
    first = http.post("/api/v1/clients", json=ACME, headers={**staff, **key})
    assert first.status_code == 201
    events = len(outbox_events(registry))
    again = http.post("/api/v1/clients", json=dict(reversed(list(ACME.items()))), headers={**staff, **key})
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert total(http, staff) == 1
    assert len(outbox_events(registry)) == events

    other_body = http.post("/api/v1/clients", json={**ACME, "name": "Another"}, headers={**staff, **key})
    problem = assert_problem(other_body, 422)
    assert "Idempotency-Key" in problem["errors"]
    assert total(http, staff) == 1

    bob = http.post("/api/v1/clients", json=ACME, headers={**auth(token("staff", "bob")), **key})
    assert bob.status_code == 201 and bob.get_json()["id"] != first.get_json()["id"]
    assert total(http, staff) == 2

    refused = http.post("/api/v1/clients", json={**ACME, "power": 9}, headers={**staff, "Idempotency-Key": "k2"})
    assert_problem(refused, 422)
    corrected = http.post("/api/v1/clients", json=ACME, headers={**staff, "Idempotency-Key": "k2"})
    assert corrected.status_code == 201  # a refused request may be corrected and sent again
    assert total(http, staff) == 3
    for bad_key in ("", " ", "k" * 201, "a\u0000b"):
        assert_problem(http.post("/api/v1/clients", json=ACME, headers={**staff, "Idempotency-Key": bad_key}), 422)
    assert total(http, staff) == 3


@pytestmark_registry
def test_client_list_filters_search_sort_and_pagination(registry, http, staff):
    alpha = create(http, staff, name="Alpha 华为", kind="external", category="enterprise", tags=["vip", "cn"],
                   contacts=[{"name": "Li Lei", "email": "li.lei@huawei.example"}],
                   annual_value={"amount": "500000.00", "currency": "CNY"})
    beta = create(http, staff, name="Beta Bureau", kind="external", category="government", tags=["gov"])
    gamma = create(http, staff, name="Gamma Team", kind="internal", category="team_member", tags=["vip"])
    delta = create(http, staff, name="Delta Prospect", kind="potential", category="prospect")

    def names(**query):
        response = http.get("/api/v1/clients", query_string=query, headers=staff)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [item["name"] for item in response.get_json()["items"]]

    assert names() == ["Alpha 华为", "Beta Bureau", "Delta Prospect", "Gamma Team"]
    assert names(kind="external") == ["Alpha 华为", "Beta Bureau"]
    assert names(category="government") == ["Beta Bureau"]
    assert names(kind="external", category="team_member") == []
    assert names(tag="vip") == ["Alpha 华为", "Gamma Team"]
    assert names(q="HUAWEI.example") == ["Alpha 华为"]      # a contact's email, any case
    assert names(q="华为") == ["Alpha 华为"]
    assert names(q="gamma") == ["Gamma Team"]
    assert names(q="gov") == ["Beta Bureau"]               # a tag
    assert names(q="%") == [] and names(q="_") == []        # LIKE wildcards are literal
    assert names(sort="-name") == ["Gamma Team", "Delta Prospect", "Beta Bureau", "Alpha 华为"]
    assert names(sort="-annual_value")[0] == "Alpha 华为"
    assert names(sort="created_at") == [c["name"] for c in (alpha, beta, gamma, delta)]

    page = http.get("/api/v1/clients", query_string={"per_page": 3, "page": 2}, headers=staff).get_json()
    assert (page["page"], page["per_page"], page["total"]) == (2, 3, 4)
    assert [item["name"] for item in page["items"]] == ["Gamma Team"]
    beyond = http.get("/api/v1/clients", query_string={"per_page": 3, "page": 3}, headers=staff).get_json()
    assert beyond["items"] == [] and beyond["total"] == 4
    filtered = http.get("/api/v1/clients", query_string={"tag": "vip", "per_page": 1}, headers=staff).get_json()
    assert filtered["total"] == 2 and len(filtered["items"]) == 1
    for bad in ({"sort": "colour"}, {"kind": "partner"}, {"page": 0}, {"per_page": 500}, {"status": "gone"}):
        problem = assert_problem(http.get("/api/v1/clients", query_string=bad, headers=staff), 422)
        assert set(bad) <= set(problem["errors"]), problem


@pytestmark_registry
def test_archive_hides_from_the_default_list(http, staff):
    kept = create(http, staff, name="Kept")
    gone = create(http, staff, name="Archived One")
    response = http.delete(f"/api/v1/clients/{gone['id']}", headers=staff)
    assert response.status_code == 200 and response.get_json()["status"] == "archived"
    listed = http.get("/api/v1/clients", headers=staff).get_json()
    assert [item["id"] for item in listed["items"]] == [kept["id"]] and listed["total"] == 1
    archived = http.get("/api/v1/clients", query_string={"status": "archived"}, headers=staff).get_json()
    assert [item["id"] for item in archived["items"]] == [gone["id"]]
    assert total(http, staff, status="all") == 2
    assert http.get(f"/api/v1/clients/{gone['id']}", headers=staff).get_json()["status"] == "archived"
    again = http.delete(f"/api/v1/clients/{gone['id']}", headers=staff)
    assert again.status_code == 200 and again.get_json()["version"] == response.get_json()["version"]


@pytestmark_registry
def test_erase_is_admin_only_removes_personal_data_and_publishes_client_erased(registry, http, staff, admin):
    client = create(http, staff, name="Personal Person", owner="Wang Fang", tags=["secret-tag"],
                    contacts=[{"name": "Han Meimei", "email": "han@example.com", "phone": "+86 10 1234"}])
    url = f"/api/v1/clients/{client['id']}/erase"
    assert_problem(http.post(url, headers=staff), 403)
    assert_problem(http.post(url, headers=auth(token("analyst"))), 403)
    assert http.get(f"/api/v1/clients/{client['id']}", headers=staff).get_json()["name"] == "Personal Person"

    erased = http.post(url, headers=admin)
    assert erased.status_code == 200, erased.get_data(as_text=True)
    body = erased.get_json()
    assert body["status"] == "erased" and body["id"] == client["id"]
    assert body["name"] != "Personal Person" and body["contacts"] == [] and body["tags"] == []
    assert body["owner"] is None
    assert "Personal Person" not in json.dumps(body, ensure_ascii=False)
    for query in ({"q": "personal"}, {"q": "han@example.com"}, {"tag": "secret-tag"}):
        assert total(http, staff, status="all", **query) == 0
    erased_events = [e for e in outbox_events(registry) if e["event_type"] == "client.erased"]
    assert len(erased_events) == 1
    assert erased_events[0]["envelope"]["data"] == {"client_id": client["id"]}
    assert erased_events[0]["subject"] == client["id"]
    assert_problem(http.patch(f"/api/v1/clients/{client['id']}", json={"name": "Back"}, headers=staff), 409)


@pytestmark_registry
def test_every_event_written_by_client_operations_is_valid(registry, http, staff, admin):
    client = create(http, staff, tags=["a"], contacts=[{"name": "Li", "email": "li@example.com"}],
                    annual_value={"amount": "1200000.00", "currency": "CNY"}, power=5, interest=4,
                    owner="Zhang Wei", preferred_language="en")
    url = f"/api/v1/clients/{client['id']}"
    assert http.patch(url, json={"name": "Acme Renamed", "annual_value": None}, headers=staff).status_code == 200
    other = create(http, staff, name="Second")
    assert http.delete(url, headers=staff).status_code == 200
    assert http.post(f"/api/v1/clients/{other['id']}/erase", headers=admin).status_code == 200
    events = outbox_events(registry)
    lifecycle = ("client.registered", "client.updated", "client.archived", "client.erased")
    assert [e["event_type"] for e in events if e["event_type"] in lifecycle] == [
        "client.registered", "client.updated", "client.registered", "client.archived", "client.erased"]
    for event in events:
        envelope = event["envelope"]
        validate_envelope(envelope)
        validate_data(event["event_type"], envelope["data"])
        assert envelope["type"] == f"clientloop.{event['event_type']}.v1"
        assert envelope["source"] == "clientloop/registry" and envelope["subject"] == event["subject"]
    sequences = [e["envelope"]["sequence"] for e in events if e["subject"] == client["id"]]
    assert sequences == [str(n).zfill(20) for n in range(1, len(sequences) + 1)] and len(sequences) >= 3


# -- hostile input --------------------------------------------------------------------------
CLIENT_FIELDS = ("name", "kind", "category", "contacts", "tags", "owner", "preferred_language", "power",
                 "interest", "engagement_current", "engagement_desired", "annual_value")
HOSTILE_VALUES: list[Any] = [
    None, True, False, 0, -1, 7, 2.5, 10 ** 30, -(10 ** 30), 1e308, "", " ", "x", "名字 ✓", "a\u0000b",
    "\U0001F600" * 20, "x" * 5000, "y" * 200_000, [], [None], ["x"], [1, "a"], [[["deep"]]],
    [{"name": "n", "email": 5}], [{"name": "\u0000"}], {}, {"a": None}, {"amount": None, "currency": None},
    {"amount": "1.00"}, {"amount": ["1"], "currency": {"c": 1}}, {"name": {"name": {"name": "x"}}},
]
#: Raw JSON fragments Python's json.dumps cannot produce: lone surrogates, deep nesting, huge numbers.
HOSTILE_RAW = ['"\\ud800"', '["\\udfff"]', '{"name": "\\ud83d"}', "[" * 5000 + "]" * 5000,
               '{"a":' * 3000 + "1" + "}" * 3000, "9" * 5000, "-1e99999", "1" + "0" * 400]


def _bodies(base: dict):
    for field in CLIENT_FIELDS:
        for value in HOSTILE_VALUES:
            yield f"{field}={_short(value)}", json.dumps({**base, field: value})
        for raw in HOSTILE_RAW:
            yield f"{field}={raw[:16]}", json.dumps({**base, field: "@@HOLE@@"}).replace('"@@HOLE@@"', raw)


def _short(value: Any) -> str:
    return repr(value)[:30]


@pytest.fixture(params=["sqlite", "postgresql"])
def hostile_settings(request, settings):
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        return settings.with_overrides(database_urls={**settings.database_urls, "registry": url})
    return settings


@pytestmark_registry
def test_hostile_input_never_gives_a_500_and_a_refusal_changes_nothing(hostile_settings):
    registry = load_service("registry", hostile_settings)
    try:
        http = registry.client()
        staff_headers = auth(token("staff"))
        target = create(http, staff_headers, name="Target")
        failures = []

        def state():
            return (count_rows(registry, "client"), count_rows(registry, "outbox"))

        before = state()
        for label, body in _bodies(ACME):
            response = http.post("/api/v1/clients", data=body, content_type="application/json",
                                 headers=staff_headers)
            after = state()
            failures += _judge(f"POST {label}", response, before, after)
            before = after
        url = f"/api/v1/clients/{target['id']}"
        for label, body in _bodies({}):
            version = http.get(url, headers=staff_headers).get_json()["version"]
            response = http.patch(url, data=body, content_type="application/json", headers=staff_headers)
            after = state()
            failures += _judge(f"PATCH {label}", response, before, after)
            if 400 <= response.status_code < 500:
                current = http.get(url, headers=staff_headers).get_json()["version"]
                if current != version:
                    failures.append(f"PATCH {label}: refused with {response.status_code} but version moved")
            before = after
        for query in ({"q": "a\u0000"}, {"tag": "\u0000"}, "q=%ED%B2%80", "q=%FF%FE", {"sort": "\u0000"},
                      {"kind": ["external", "internal"]}, {"q": "x" * 5000}, {"page": "9" * 5000}):
            response = http.get("/api/v1/clients", query_string=query, headers=staff_headers)
            if response.status_code >= 500 or (response.status_code >= 400 and problem_failure(response)):
                failures.append(f"GET ?{_short(query)}: {response.status_code} {response.get_data(as_text=True)[:200]}")
        assert not failures, "\n".join(failures)
    finally:
        registry.ctx.database.dispose()


def _judge(label: str, response, before, after) -> list[str]:
    status = response.status_code
    if status >= 500:
        return [f"{label}: {status} {response.get_data(as_text=True)[:200]}"]
    if 400 <= status < 500:
        failure = problem_failure(response)
        if failure:
            return [f"{label}: {failure}"]
        if label.startswith("POST") and after != before:
            return [f"{label}: refused with {status} but rows changed {before} → {after}"]
        if label.startswith("PATCH") and after[1] != before[1]:
            return [f"{label}: refused with {status} but an event was written"]
    return []


@pytestmark_registry
def test_an_idempotency_key_is_kept_24_hours(settings):
    now = [datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)]
    upgrade("registry", settings.database_url("registry"))
    module = service_module("registry")
    ctx = module.build_context(settings, clock=lambda: now[0])
    try:
        http = module.create_app(context=ctx).test_client()
        headers = {**auth(token("staff")), "Idempotency-Key": "daily-import"}
        first = http.post("/api/v1/clients", json=ACME, headers=headers).get_json()
        now[0] += timedelta(hours=23, minutes=59)
        assert http.post("/api/v1/clients", json=ACME, headers=headers).get_json()["id"] == first["id"]
        now[0] += timedelta(minutes=2)
        later = http.post("/api/v1/clients", json=ACME, headers=headers)
        assert later.status_code == 201 and later.get_json()["id"] != first["id"]
        assert total(http, headers) == 2
    finally:
        ctx.database.dispose()


@pytestmark_registry
def test_a_key_still_in_flight_is_409_and_the_first_answer_follows(settings, postgres_url, monkeypatch):
    import threading

    from services.registry import service as registry_service
    pg_settings = settings.with_overrides(database_urls={**settings.database_urls, "registry": postgres_url})
    registry = load_service("registry", pg_settings)
    entered, release = threading.Event(), threading.Event()
    original = registry_service.register_client

    def slow_register(*args, **kwargs):
        entered.set()
        assert release.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(registry_service, "register_client", slow_register)
    headers = {**auth(token("staff")), "Idempotency-Key": "slow-one"}
    answers = {}
    first = threading.Thread(target=lambda: answers.update(
        first=registry.client().post("/api/v1/clients", json=ACME, headers=headers)))
    try:
        first.start()
        assert entered.wait(10)
        assert_problem(registry.client().post("/api/v1/clients", json=ACME, headers=headers), 409)
        release.set()
        first.join(10)
        assert answers["first"].status_code == 201
        replay = registry.client().post("/api/v1/clients", json=ACME, headers=headers)
        assert replay.status_code == 201 and replay.get_json()["id"] == answers["first"].get_json()["id"]
        assert count_rows(registry, "client") == 1
    finally:
        release.set()
        first.join(10)
        registry.ctx.database.dispose()
