"""The HTTP contract on complaints: 400/401/403/404/405/412/422 as problem details, and a
sweep of hostile input on SQLite and PostgreSQL that must never give a 500 and, when refused,
must change nothing."""
from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from services.complaints.adapters.orm import ComplaintRecord, TimelineEntryRecord
from services.complaints.app import build_context, create_app
from shared.migrations import upgrade
from tests.complaints.complaints_helpers import START, Clock, ComplaintsApi, settings_on_dialect

PROBLEM = "application/problem+json"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status
    return body


# -- the contract, endpoint by endpoint --------------------------------------------------------

def test_no_token_is_401_and_analysts_may_read_but_not_write(api):
    complaint = api.opened()
    url = f"/api/v1/complaints/{complaint['id']}"

    assert_problem(api.client.get("/api/v1/complaints"), 401)
    assert_problem(api.client.get(url, headers={"Authorization": "Bearer nope"}), 401)
    analyst = api.headers("analyst")
    assert api.client.get(url, headers=analyst).status_code == 200
    assert api.client.get("/api/v1/reports/complaints", headers=analyst).status_code == 200
    assert_problem(api.client.post("/api/v1/complaints", json=api.body(), headers=analyst), 403)
    assert_problem(api.client.post(f"{url}/actions", json={"action": "acknowledge"},
                                   headers=analyst), 403)
    assert_problem(api.client.post(f"{url}/notes", json={"text": "x"}, headers=analyst), 403)
    assert_problem(api.client.patch(url, json={"title": "x"}, headers=analyst), 403)
    assert api.read(complaint["id"])["version"] == 1


@pytest.mark.parametrize("method, path, body", [
    ("get", "/api/v1/complaints/{id}", None),
    ("patch", "/api/v1/complaints/{id}", {"title": "x"}),
    ("post", "/api/v1/complaints/{id}/actions", {"action": "acknowledge"}),
    ("post", "/api/v1/complaints/{id}/notes", {"text": "x"}),
])
def test_an_unknown_complaint_is_404(api, method, path, body):
    for complaint_id in (uuid.uuid4(), "not-a-uuid", "CMP-000001"):
        response = getattr(api.client, method)(path.format(id=complaint_id), json=body,
                                               headers=api.headers())
        assert_problem(response, 404)


def test_wrong_methods_are_405(api):
    complaint = api.opened()

    assert_problem(api.client.delete(f"/api/v1/complaints/{complaint['id']}",
                                     headers=api.headers()), 405)
    assert_problem(api.client.put("/api/v1/complaints", json={}, headers=api.headers()), 405)


@pytest.mark.parametrize("path", ["/api/v1/complaints", "/api/v1/complaints/{id}/actions",
                                  "/api/v1/complaints/{id}/notes"])
def test_malformed_json_is_400(api, path):
    complaint = api.opened()
    for raw in ('{"action": ', "nope", "[1,]", '{"a": NaN}'):
        response = api.client.post(path.format(id=complaint["id"]), data=raw,
                                   content_type="application/json", headers=api.headers())
        assert_problem(response, 400)
    response = api.client.post(path.format(id=complaint["id"]), data="action=start",
                               content_type="application/x-www-form-urlencoded",
                               headers=api.headers())
    assert_problem(response, 400)
    assert api.read(complaint["id"])["version"] == 1


@pytest.mark.parametrize("if_match", ['"7"', '"abc"', "W/\"0\"", "garbage"])
def test_a_stale_or_meaningless_if_match_is_412_everywhere(api, if_match):
    complaint = api.opened()
    url = f"/api/v1/complaints/{complaint['id']}"
    headers = api.headers(**{"If-Match": if_match})

    assert_problem(api.client.patch(url, json={"title": "x"}, headers=headers), 412)
    assert_problem(api.client.post(f"{url}/actions", json={"action": "acknowledge"},
                                   headers=headers), 412)
    assert_problem(api.client.post(f"{url}/notes", json={"text": "x"}, headers=headers), 412)
    assert api.read(complaint["id"])["version"] == 1


def test_if_match_star_or_weak_current_applies(api):
    complaint = api.opened()
    url = f"/api/v1/complaints/{complaint['id']}"

    assert api.client.post(f"{url}/notes", json={"text": "x"},
                           headers=api.headers(**{"If-Match": "*"})).status_code == 201
    assert api.client.post(f"{url}/actions", json={"action": "acknowledge"},
                           headers=api.headers(**{"If-Match": 'W/"2"'})).status_code == 200


def test_an_idempotency_key_on_an_action_replays_instead_of_conflicting(api, complaints_ctx):
    complaint = api.in_status("in_progress")
    headers = api.headers(**{"Idempotency-Key": "resolve-1"})
    body = {"action": "resolve", "resolution_code": "fixed", "root_cause": "Bug",
            "summary": "Fixed"}

    first = api.action(complaint["id"], body, headers=headers)
    second = api.action(complaint["id"], body, headers=headers)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.get_json() == first.get_json()
    assert api.action(complaint["id"], body).status_code == 409


def test_a_blank_idempotency_key_is_422(api):
    assert_problem(api.open(headers=api.headers(**{"Idempotency-Key": " "})), 422)


def test_list_arguments_are_validated(api):
    for query in ({"per_page": 201}, {"page": 0}, {"overdue": "maybe"}, {"client_id": "x"},
                  {"severity": "urgent"}, {"status": "open"}, {"assignee": ""}):
        assert_problem(api.list(**query), 422)


# -- hostile input --------------------------------------------------------------------------------

HOSTILE_VALUES: list[Any] = [
    None, True, False, 0, -1, 2.5, 10 ** 30, 1e308, "", " ", "x", "名字 ✓", "a\u0000b",
    "\U0001F600" * 20, "x" * 5000, "y" * 200_000, [], [None], ["x"], [[["deep"]]], {},
    {"a": None}, {"from": "x", "to": "y"}, "'; DROP TABLE complaint; --", "CMP-000001",
    str(uuid.uuid4()), "low", "resolved", "2025-03-03T09:00:00Z",
]
HOSTILE_RAW = ['"\\ud800"', '["\\udfff"]', '{"a": "\\ud83d"}', "[" * 5000 + "]" * 5000,
               '{"a":' * 3000 + "1" + "}" * 3000, "9" * 5000, "-1e99999", "1" + "0" * 400]


def _bodies(base: dict, fields: tuple[str, ...]):
    for field in fields:
        for value in HOSTILE_VALUES:
            yield f"{field}={repr(value)[:24]}", json.dumps({**base, field: value})
        for raw in HOSTILE_RAW:
            yield (f"{field}={raw[:16]}",
                   json.dumps({**base, field: "@@HOLE@@"}).replace('"@@HOLE@@"', raw))
    for raw in ("[]", '"text"', "null", "0", "true", '{"": 1}'):
        yield f"body={raw}", raw


@pytest.fixture(params=["sqlite", "postgresql"])
def hostile_api(request, settings, tokens):
    settings = settings_on_dialect(request, settings)
    upgrade("complaints", settings.database_url("complaints"))
    ctx = build_context(settings, clock=Clock(START))
    yield ComplaintsApi(create_app(context=ctx).test_client(), ctx, tokens)
    ctx.database.dispose()


def _state(api: ComplaintsApi) -> tuple[int, int, int]:
    with api.ctx.database.transaction() as session:
        return (session.execute(select(func.count()).select_from(ComplaintRecord)).scalar_one(),
                session.execute(select(func.count()).select_from(TimelineEntryRecord)
                                ).scalar_one(),
                session.execute(select(func.count()).select_from(api.ctx.tables.outbox)
                                ).scalar_one())


def _judge(label: str, response, before, after) -> list[str]:
    status = response.status_code
    if status >= 500:
        return [f"{label}: {status} {response.get_data(as_text=True)[:200]}"]
    if 400 <= status < 500:
        if response.mimetype != PROBLEM:
            return [f"{label}: {status} without problem details"]
        if after != before:
            return [f"{label}: refused with {status} but rows changed {before} → {after}"]
    return []


ACTION_CASES = (("assign", "in_progress"), ("resolve", "in_progress"), ("close", "resolved"),
                ("reopen", "resolved"), ("acknowledge", "new"))
"""Each kind of action field once (escalate and wait take a reason, as reopen does)."""
ACTION_FIELDS = {"assign": ("assignee",), "resolve": ("resolution_code", "root_cause", "summary"),
                 "close": ("client_accepted",), "reopen": ("reason",), "acknowledge": ()}


def test_hostile_input_never_gives_a_500_and_a_refusal_changes_nothing(hostile_api):
    api = hostile_api
    failures: list[str] = []
    headers = api.headers()
    before = _state(api)
    for label, body in _bodies(api.body(), ("client_id", "channel", "category", "severity",
                                            "title", "description", "remedy_sought",
                                            "assignee")):
        response = api.client.post("/api/v1/complaints", data=body,
                                   content_type="application/json", headers=headers)
        after = _state(api)
        failures += _judge(f"POST {label}", response, before, after)
        before = after

    target = api.opened()
    before = _state(api)
    for label, body in _bodies({}, ("title", "description", "category", "severity")):
        response = api.client.patch(f"/api/v1/complaints/{target['id']}", data=body,
                                    content_type="application/json", headers=headers)
        after = _state(api)
        failures += _judge(f"PATCH {label}", response, before, after)
        before = after

    for label, body in _bodies({}, ("text",)):
        response = api.client.post(f"/api/v1/complaints/{target['id']}/notes", data=body,
                                   content_type="application/json", headers=headers)
        after = _state(api)
        failures += _judge(f"NOTE {label}", response, before, after)
        before = after

    for action, status in ACTION_CASES:
        subject = None
        for label, body in _bodies({"action": action}, ("action", "note",
                                                         *ACTION_FIELDS[action])):
            if subject is None or api.read(subject)["status"] != status:
                subject = api.in_status(status)["id"]
                before = _state(api)
            response = api.client.post(f"/api/v1/complaints/{subject}/actions", data=body,
                                       content_type="application/json", headers=headers)
            after = _state(api)
            failures += _judge(f"ACTION {action} {label}", response, before, after)
            before = after

    for path, query in [("/api/v1/complaints", q) for q in (
            {"assignee": "a\u0000"}, "assignee=%ED%B2%80", "assignee=%FF%FE",
            {"status": ["new", "closed"]}, {"assignee": "x" * 5000}, {"page": "9" * 5000},
            {"client_id": "\u0000"}, "overdue=%ED%A0%80")] + [
            ("/api/v1/reports/complaints", q) for q in (
                {"from": "\u0000"}, {"from": "2025-13-01"}, {"to": "9" * 5000},
                "from=%FF", {"from": ["2025-01-01", "2025-02-01"]})]:
        response = api.client.get(path, query_string=query, headers=headers)
        if response.status_code >= 500 or (response.status_code >= 400
                                           and response.mimetype != PROBLEM):
            failures.append(f"GET {path} ?{repr(query)[:40]}: {response.status_code}")
    assert not failures, "\n".join(failures[:40])
