"""Requirements and change requests over HTTP: the workflow and its refusals, the baseline,
change requests with four eyes, stale and concurrent approvals, events, the report, erasure."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from services.registry.app import build_context, create_app
from shared.events import validate_data
from shared.migrations import upgrade
from tests.conftest import auth, make_token
from tests.registry.conftest import published, register

UNKNOWN = "00000000-0000-4000-8000-000000000000"
REQ = {"title": "Monthly usage export", "description": "CSV with usage per site, for 王芳.",
       "priority": "should", "source": "workshop", "source_ref": "WS-2026-03",
       "acceptance_criteria": ["One row per site and day", "Opens in Excel"]}
IMPACT = {"schedule_days": 10, "cost": {"amount": "12000.00", "currency": "CNY"}, "risk": "medium"}


@pytest.fixture
def other_staff(settings):
    return make_token(settings, "staff", name="second-staff")


def create(http, token, client_id, **fields):
    return http.post(f"/api/v1/clients/{client_id}/requirements", json={**REQ, **fields},
                     headers=auth(token))


def act(http, token, requirement_id, action, **fields):
    return http.post(f"/api/v1/requirements/{requirement_id}/actions",
                     json={"action": action, **fields}, headers=auth(token))


def to_status(http, token, requirement_id, *actions):
    fields = {"deliver": {"note": "Shipped in release 4.2."},
              "refuse": {"reason": "The VAT column is missing."}}
    for action in actions:
        answer = act(http, token, requirement_id, action, **fields.get(action, {}))
        assert answer.status_code == 200, answer.json
    return answer


def submit(http, token, requirement_id, proposed=None, **fields):
    body = {"summary": "Move the date, add a criterion.",
            "proposed": proposed or {"due_on": "2030-06-30"}, "impact": IMPACT, **fields}
    return http.post(f"/api/v1/requirements/{requirement_id}/change-requests", json=body,
                     headers=auth(token))


def decide(http, token, change_request_id, decision="approve", **fields):
    return http.post(f"/api/v1/change-requests/{change_request_id}/decision",
                     json={"decision": decision, **fields}, headers=auth(token))


def approved_requirement(http, tokens, registry_ctx):
    client = register(registry_ctx)
    created = create(http, tokens["staff"], client.id)
    to_status(http, tokens["staff"], created.json["id"], "analyse", "approve")
    return client, created.json["id"]


# -- create, read, list ---------------------------------------------------------------------

def test_a_requirement_is_created_proposed_with_history_etag_and_event(http, tokens, registry_ctx):
    client = register(registry_ctx)
    created = create(http, tokens["staff"], client.id, due_on="2030-01-31")
    assert created.status_code == 201, created.json
    body = created.json
    assert created.headers["ETag"] == '"1"'
    assert created.headers["Location"].endswith(f"/api/v1/requirements/{body['id']}")
    assert (body["status"], body["version"], body["priority"], body["overdue"]) == (
        "proposed", 1, "should", False)
    assert body["allowed_actions"] == ["analyse", "reject", "withdraw"]
    assert [(e["action"], e["to_status"], e["by"]) for e in body["history"]] == [
        ("create", "proposed", "staff-user")]
    events = published(registry_ctx, "requirement.created")
    assert events[-1]["subject"] == client.id
    validate_data("requirement.created", events[-1]["data"])

    read = http.get(f"/api/v1/requirements/{body['id']}", headers=auth(tokens["analyst"]))
    assert (read.status_code, read.json["title"]) == (200, REQ["title"])
    listed = http.get(f"/api/v1/clients/{client.id}/requirements", headers=auth(tokens["analyst"]))
    assert (listed.json["total"], listed.json["page"], listed.json["per_page"]) == (1, 1, 50)
    assert "history" not in listed.json["items"][0]


def test_create_refusals(http, tokens, registry_ctx):
    client = register(registry_ctx)
    assert create(http, tokens["analyst"], client.id).status_code == 403
    assert create(http, tokens["staff"], UNKNOWN).status_code == 404
    bad = create(http, tokens["staff"], client.id, title="  ", priority="urgent",
                 acceptance_criteria=["ok", ""])
    assert bad.status_code == 422
    assert {"title", "priority", "acceptance_criteria.1"} <= set(bad.json["errors"])
    assert http.get("/api/v1/requirements?colour=red", headers=auth(tokens["staff"])).status_code == 422
    assert http.get("/api/v1/requirements?per_page=201", headers=auth(tokens["staff"])).status_code == 422


def test_idempotency_key_on_create_replays_the_first_answer(http, tokens, registry_ctx):
    client = register(registry_ctx)
    headers = auth(tokens["staff"], **{"Idempotency-Key": "req-1"})
    first = http.post(f"/api/v1/clients/{client.id}/requirements", json=REQ, headers=headers)
    again = http.post(f"/api/v1/clients/{client.id}/requirements", json=REQ, headers=headers)
    assert (first.status_code, again.status_code, again.json["id"]) == (201, 201, first.json["id"])
    other = http.post(f"/api/v1/clients/{client.id}/requirements", json={**REQ, "title": "x"},
                      headers=headers)
    assert other.status_code == 422
    assert http.get(f"/api/v1/clients/{client.id}/requirements",
                    headers=auth(tokens["staff"])).json["total"] == 1


# -- the workflow -------------------------------------------------------------------------

# (action, the statuses it starts from, where it leads)
WORKFLOW = {
    "analyse": ({"proposed"}, "analysed"),
    "approve": ({"analysed"}, "approved"),
    "start": ({"approved"}, "in_progress"),
    "deliver": ({"in_progress"}, "delivered"),
    "accept": ({"delivered"}, "accepted"),
    "refuse": ({"delivered"}, "in_progress"),
    "reject": ({"proposed", "analysed"}, "rejected"),
    "withdraw": ({"proposed", "analysed", "approved", "in_progress"}, "withdrawn"),
}
PATH_TO = {
    "proposed": (), "analysed": ("analyse",), "approved": ("analyse", "approve"),
    "in_progress": ("analyse", "approve", "start"),
    "delivered": ("analyse", "approve", "start", "deliver"),
    "accepted": ("analyse", "approve", "start", "deliver", "accept"),
    "rejected": ("reject",), "withdrawn": ("withdraw",),
}
FIELDS = {"deliver": {"note": "Shipped."}, "refuse": {"reason": "Missing VAT."},
          "reject": {"reason": "Out of scope."}, "withdraw": {"reason": "Client changed plans."}}


def _reach(http, token, requirement_id, status):
    for action in PATH_TO[status]:
        answer = act(http, token, requirement_id, action, **FIELDS.get(action, {}))
        assert answer.status_code == 200, answer.json


@pytest.mark.parametrize("status", list(PATH_TO))
def test_every_action_from_every_status_moves_or_is_refused_with_allowed_actions(
        http, tokens, registry_ctx, status):
    client = register(registry_ctx)
    expected_allowed = [action for action, (sources, _) in WORKFLOW.items() if status in sources]
    for action, (sources, target) in WORKFLOW.items():
        requirement_id = create(http, tokens["staff"], client.id).json["id"]
        _reach(http, tokens["staff"], requirement_id, status)
        answer = act(http, tokens["staff"], requirement_id, action, **FIELDS.get(action, {}))
        if status in sources:
            assert answer.status_code == 200, (status, action, answer.json)
            assert answer.json["status"] == target
            last = answer.json["history"][-1]
            assert (last["action"], last["from_status"], last["to_status"]) == (action, status, target)
        else:
            assert answer.status_code == 409, (status, action)
            assert answer.headers["Content-Type"] == "application/problem+json"
            assert answer.json["allowed_actions"] == expected_allowed


def test_action_refusals_unknown_missing_reason_analyst_and_stale_if_match(http, tokens, registry_ctx):
    client = register(registry_ctx)
    requirement_id = create(http, tokens["staff"], client.id).json["id"]
    assert act(http, tokens["staff"], requirement_id, "teleport").status_code == 422
    assert http.post(f"/api/v1/requirements/{requirement_id}/actions", json={},
                     headers=auth(tokens["staff"])).status_code == 422
    missing = act(http, tokens["staff"], requirement_id, "reject")
    assert (missing.status_code, list(missing.json["errors"])) == (422, ["reason"])
    assert act(http, tokens["analyst"], requirement_id, "analyse").status_code == 403
    stale = http.post(f"/api/v1/requirements/{requirement_id}/actions", json={"action": "analyse"},
                      headers=auth(tokens["staff"], **{"If-Match": '"7"'}))
    assert stale.status_code == 412
    assert act(http, tokens["staff"], UNKNOWN, "analyse").status_code == 404


def test_status_changes_publish_events_in_sequence(http, tokens, registry_ctx):
    client = register(registry_ctx)
    requirement_id = create(http, tokens["staff"], client.id).json["id"]
    _reach(http, tokens["staff"], requirement_id, "delivered")
    act(http, tokens["staff"], requirement_id, "refuse", reason="Missing VAT.")
    events = [e for e in published(registry_ctx) if e["subject"] == client.id]
    sequences = [e["sequence"] for e in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    changed = [e for e in events if e["type"] == "clientloop.requirement.status_changed.v1"]
    assert [(e["data"]["from_status"], e["data"]["status"]) for e in changed] == [
        ("proposed", "analysed"), ("analysed", "approved"), ("approved", "in_progress"),
        ("in_progress", "delivered"), ("delivered", "in_progress")]
    assert changed[-1]["data"]["reason"] == "Missing VAT."
    for event in events:
        validate_data(event["type"].removeprefix("clientloop.").removesuffix(".v1"), event["data"])


# -- PATCH and the baseline ---------------------------------------------------------------

def test_patch_before_approval_edits_and_records_history(http, tokens, registry_ctx):
    client = register(registry_ctx)
    requirement_id = create(http, tokens["staff"], client.id).json["id"]
    patched = http.patch(f"/api/v1/requirements/{requirement_id}",
                         json={"priority": "must", "due_on": "2030-02-01"},
                         headers=auth(tokens["staff"], **{"If-Match": '"1"'}))
    assert (patched.status_code, patched.headers["ETag"]) == (200, '"2"')
    assert patched.json["history"][-1]["changes"] == {"priority": "must", "due_on": "2030-02-01"}
    assert published(registry_ctx, "requirement.changed")[-1]["data"]["change_request_id"] is None
    stale = http.patch(f"/api/v1/requirements/{requirement_id}", json={"priority": "could"},
                       headers=auth(tokens["staff"], **{"If-Match": '"1"'}))
    assert stale.status_code == 412


@pytest.mark.parametrize("field, value", [("title", "New"), ("description", "New"),
                                          ("priority", "must"), ("due_on", "2031-01-01"),
                                          ("acceptance_criteria", ["Other"])])
def test_patch_of_a_baselined_field_after_approval_is_a_409_naming_the_path(
        http, tokens, registry_ctx, field, value):
    _client, requirement_id = approved_requirement(http, tokens, registry_ctx)
    refused = http.patch(f"/api/v1/requirements/{requirement_id}", json={field: value},
                         headers=auth(tokens["staff"]))
    path = f"/api/v1/requirements/{requirement_id}/change-requests"
    assert refused.status_code == 409
    assert path in refused.json["detail"]
    assert refused.json["change_request_path"] == path
    # a field that is not baselined still changes
    owner = http.patch(f"/api/v1/requirements/{requirement_id}", json={"owner": "Zhao Lei"},
                       headers=auth(tokens["staff"]))
    assert (owner.status_code, owner.json["owner"]) == (200, "Zhao Lei")


# -- change requests ----------------------------------------------------------------------

def test_approval_applies_the_change_atomically_with_history_and_events(
        http, tokens, registry_ctx, other_staff):
    client, requirement_id = approved_requirement(http, tokens, registry_ctx)
    before = http.get(f"/api/v1/requirements/{requirement_id}", headers=auth(tokens["staff"])).json
    proposed = {"due_on": "2030-06-30", "acceptance_criteria": ["One row per site and day"]}
    submitted = submit(http, tokens["staff"], requirement_id, proposed)
    assert submitted.status_code == 201, submitted.json
    cr = submitted.json
    assert (cr["status"], cr["submitted_by"], cr["impact"]) == ("submitted", "staff-user", IMPACT)

    decided = decide(http, other_staff, cr["id"], note="Fine by the PMO.")
    assert decided.status_code == 200, decided.json
    assert (decided.json["status"], decided.json["decided_by"], decided.json["decision_note"]) == (
        "approved", "second-staff", "Fine by the PMO.")
    after = http.get(f"/api/v1/requirements/{requirement_id}", headers=auth(tokens["staff"])).json
    assert after["version"] == before["version"] + 1
    assert (after["due_on"], after["acceptance_criteria"]) == (
        "2030-06-30", ["One row per site and day"])
    entry = after["history"][-1]
    assert (entry["action"], entry["change_request_id"], entry["by"]) == (
        "change_approved", cr["id"], "second-staff")
    assert entry["changes"] == proposed
    decided_event = published(registry_ctx, "change_request.decided")[-1]
    changed_event = published(registry_ctx, "requirement.changed")[-1]
    validate_data("change_request.decided", decided_event["data"])
    validate_data("requirement.changed", changed_event["data"])
    validate_data("change_request.submitted", published(registry_ctx, "change_request.submitted")[-1]["data"])
    assert changed_event["data"]["change_request_id"] == cr["id"]
    assert decided_event["subject"] == client.id
    # decided once: deciding again is a 409 with no allowed actions
    again = decide(http, tokens["admin"], cr["id"], "reject")
    assert (again.status_code, again.json["allowed_actions"]) == (409, [])


def test_four_eyes_the_submitter_may_not_decide_403_before_the_body(
        http, tokens, registry_ctx, other_staff):
    _client, requirement_id = approved_requirement(http, tokens, registry_ctx)
    cr = submit(http, tokens["staff"], requirement_id).json
    own = decide(http, tokens["staff"], cr["id"])
    assert own.status_code == 403
    assert "Four eyes" in own.json["detail"]
    garbage = http.post(f"/api/v1/change-requests/{cr['id']}/decision", json={"decision": "maybe"},
                        headers=auth(tokens["staff"]))
    assert garbage.status_code == 403  # the body is not even looked at
    assert decide(http, other_staff, cr["id"], "maybe").status_code == 422
    assert decide(http, tokens["analyst"], cr["id"]).status_code == 403
    rejected = decide(http, other_staff, cr["id"], "reject", note="Not this quarter.")
    assert (rejected.status_code, rejected.json["status"]) == (200, "rejected")
    unchanged = http.get(f"/api/v1/requirements/{requirement_id}", headers=auth(tokens["staff"])).json
    assert unchanged["due_on"] is None


def test_change_request_refusals(http, tokens, registry_ctx):
    client = register(registry_ctx)
    requirement_id = create(http, tokens["staff"], client.id).json["id"]
    early = submit(http, tokens["staff"], requirement_id)
    assert early.status_code == 409  # not baselined yet: edit with PATCH
    to_status(http, tokens["staff"], requirement_id, "analyse", "approve")
    assert submit(http, tokens["staff"], requirement_id, {"owner": "x"}).status_code == 422
    bad = submit(http, tokens["staff"], requirement_id,
                 impact={"schedule_days": "ten", "risk": "extreme"})
    assert bad.status_code == 422 and {"impact.schedule_days", "impact.risk"} <= set(bad.json["errors"])
    currency = submit(http, tokens["staff"], requirement_id,
                      impact={**IMPACT, "cost": {"amount": "1.00", "currency": "USD"}})
    assert currency.status_code == 422 and "impact.cost.currency" in currency.json["errors"]
    assert submit(http, tokens["analyst"], requirement_id).status_code == 403


def test_a_stale_change_request_is_a_409(http, tokens, registry_ctx, other_staff):
    _client, requirement_id = approved_requirement(http, tokens, registry_ctx)
    first = submit(http, tokens["staff"], requirement_id, {"due_on": "2030-06-30"}).json
    second = submit(http, tokens["staff"], requirement_id, {"due_on": "2030-09-30",
                                                            "priority": "must"}).json
    unrelated = submit(http, tokens["staff"], requirement_id, {"priority": "could"}).json
    assert decide(http, other_staff, first["id"]).status_code == 200
    stale = decide(http, other_staff, second["id"])
    assert stale.status_code == 409
    assert "due_on" in stale.json["detail"]
    assert decide(http, other_staff, unrelated["id"]).status_code == 200  # other fields
    still = http.get(f"/api/v1/change-requests/{second['id']}", headers=auth(tokens["staff"])).json
    assert still["status"] == "submitted"


def test_withdraw_and_lists(http, tokens, registry_ctx, other_staff):
    client, requirement_id = approved_requirement(http, tokens, registry_ctx)
    cr = submit(http, tokens["staff"], requirement_id).json
    withdrawn = http.post(f"/api/v1/change-requests/{cr['id']}/withdraw", json={},
                          headers=auth(tokens["staff"]))
    assert (withdrawn.status_code, withdrawn.json["status"]) == (200, "withdrawn")
    assert http.post(f"/api/v1/change-requests/{cr['id']}/withdraw", json={},
                     headers=auth(tokens["staff"])).status_code == 409
    submit(http, tokens["staff"], requirement_id)
    listed = http.get(f"/api/v1/change-requests?status=submitted&client_id={client.id}",
                      headers=auth(tokens["analyst"])).json
    assert listed["total"] == 1
    assert http.get(f"/api/v1/requirements/{requirement_id}/change-requests",
                    headers=auth(tokens["analyst"])).json["total"] == 2
    assert http.get("/api/v1/change-requests?status=open",
                    headers=auth(tokens["analyst"])).status_code == 422


# -- overdue and the report ----------------------------------------------------------------

def test_overdue_filter_and_the_report_on_a_constructed_data_set(
        http, settings, registry_ctx, clock):
    client = register(registry_ctx)
    yesterday = (clock.now.date() - timedelta(days=1)).isoformat()
    # the clock moves on by days: tokens that outlive it
    staff = make_token(settings, "staff", days=30)
    other_staff = make_token(settings, "staff", name="second-staff", days=30)
    analyst = make_token(settings, "analyst", days=30)
    late = create(http, staff, client.id, due_on=yesterday, priority="must").json["id"]
    create(http, staff, client.id, due_on=yesterday, priority="could")  # stays proposed, late
    done_late = create(http, staff, client.id, due_on=yesterday).json["id"]
    rejected = create(http, staff, client.id, priority="wont").json["id"]
    act(http, staff, rejected, "reject", reason="Out of scope.")
    # accepted after 2 days (one refusal), accepted after 4 days (none)
    _reach(http, staff, done_late, "delivered")
    act(http, staff, done_late, "refuse", reason="Missing VAT.")
    to_status(http, staff, done_late, "deliver")
    clock.advance(days=2)
    to_status(http, staff, done_late, "accept")
    clean = create(http, staff, client.id).json["id"]
    _reach(http, staff, clean, "delivered")
    clock.advance(days=4)
    to_status(http, staff, clean, "accept")
    to_status(http, staff, late, "analyse", "approve")
    cr1 = submit(http, staff, late, {"priority": "should"}, impact={**IMPACT, "schedule_days": 5}).json
    cr2 = submit(http, staff, late, {"title": "Weekly usage export"},
                 impact={**IMPACT, "schedule_days": 7}).json
    submit(http, staff, late, {"description": "Other"})
    decide(http, other_staff, cr1["id"])
    decide(http, other_staff, cr2["id"], "reject")

    overdue = http.get("/api/v1/requirements?overdue=true", headers=auth(staff)).json
    assert overdue["total"] == 2 and all(item["overdue"] for item in overdue["items"])
    assert http.get("/api/v1/requirements?overdue=false", headers=auth(staff)).json["total"] == 3

    report = http.get("/api/v1/reports/requirements", headers=auth(analyst))
    assert report.status_code == 200
    assert report.json | {"client_id": None} == {
        "client_id": None, "total": 5,
        "by_status": {"proposed": 1, "analysed": 0, "approved": 1, "in_progress": 0,
                      "delivered": 0, "accepted": 2, "rejected": 1, "withdrawn": 0},
        "by_priority": {"must": 0, "should": 3, "could": 1, "wont": 1},
        "overdue": 2,
        "change_requests": {"submitted": 3, "pending": 1, "approved": 1, "rejected": 1,
                            "withdrawn": 0},
        "approved_schedule_impact_days": 5,
        "median_days_proposed_to_accepted": 3.0,  # 2 and 4 days
        "accepted": 2, "deliveries": 2, "refused_deliveries_rate": 50.0,
    }


# -- erasure -------------------------------------------------------------------------------

def test_erasure_removes_free_texts_and_keeps_anonymous_records(
        http, tokens, registry_ctx, other_staff):
    client, requirement_id = approved_requirement(http, tokens, registry_ctx)
    cr = submit(http, tokens["staff"], requirement_id,
                {"description": "Send it to 王芳 at wang@example.com", "priority": "must"},
                ).json
    decide(http, other_staff, cr["id"], note="王芳 agreed on the phone.")
    erased = http.post(f"/api/v1/clients/{client.id}/erase", headers=auth(tokens["admin"]))
    assert erased.status_code == 200, erased.json

    read = http.get(f"/api/v1/requirements/{requirement_id}", headers=auth(tokens["admin"])).json
    assert (read["status"], read["priority"], read["title"]) == ("approved", "must", "(erased)")
    assert read["description"] is None and read["acceptance_criteria"] == []
    assert read["source_ref"] is None
    assert all(entry["note"] is None for entry in read["history"])
    assert "王芳" not in str(read)
    change = http.get(f"/api/v1/change-requests/{cr['id']}", headers=auth(tokens["admin"])).json
    assert (change["status"], change["impact"], change["decision_note"]) == (
        "approved", IMPACT, None)
    assert "王芳" not in str(change) and change["proposed"]["priority"] == "must"
    for event in published(registry_ctx):
        assert "王芳" not in str(event), event["type"]


# -- PostgreSQL: concurrent approvals ----------------------------------------------------------

@pytest.fixture
def pg_registry(settings, clock, postgres_url):
    upgrade("registry", postgres_url)
    ctx = build_context(settings.with_overrides(
        database_urls={**settings.database_urls, "registry": postgres_url}), clock=clock)
    yield ctx
    ctx.database.dispose()


def test_two_concurrent_approvals_on_the_same_field_one_wins_one_409(settings, pg_registry):
    app = create_app(context=pg_registry)
    staff = make_token(settings, "staff", name="submitter")
    deciders = [make_token(settings, "staff", name=f"decider-{n}") for n in (1, 2)]
    client = register(pg_registry)
    http = app.test_client()
    requirement_id = create(http, staff, client.id).json["id"]
    to_status(http, staff, requirement_id, "analyse", "approve")
    crs = [submit(http, staff, requirement_id, {"due_on": day}).json["id"]
           for day in ("2030-06-30", "2030-09-30")]
    barrier = threading.Barrier(2)
    answers: list[int] = []

    def approve(cr_id, token):
        client_ = app.test_client()
        barrier.wait(timeout=10)
        answers.append(decide(client_, token, cr_id).status_code)

    threads = [threading.Thread(target=approve, args=(cr_id, token))
               for cr_id, token in zip(crs, deciders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(answers) == [200, 409]
    read = http.get(f"/api/v1/requirements/{requirement_id}", headers=auth(staff)).json
    assert read["version"] == 4  # created 1, analyse 2, approve 3, one change 4
    assert [e["action"] for e in read["history"]].count("change_approved") == 1
