"""Client care over HTTP: communication plans, the interaction log, follow-ups due,
and ``client.followup.due`` once per client and due date."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from services.registry.app import build_context, create_app, run_jobs
from shared.events import validate_data
from shared.migrations import upgrade
from tests.conftest import auth, make_token
from tests.registry.conftest import Clock, published, register

UNKNOWN = "00000000-0000-4000-8000-000000000000"
PLAN = {"goal": "Quarterly business review", "channel": "meeting", "frequency_days": 30}


def put_plan(http, token, client_id, body=None, **headers):
    return http.put(f"/api/v1/clients/{client_id}/communication-plan", json=body or PLAN,
                    headers=auth(token, **headers))


def log(http, token, client_id, **fields):
    body = {"channel": "phone", "summary": "Called about the delivery.", **fields}
    return http.post(f"/api/v1/clients/{client_id}/interactions", json=body, headers=auth(token))


def today(clock) -> date:
    return clock.now.date()


def test_a_plan_is_created_then_replaced_with_versions_and_etags(http, tokens, registry_ctx, clock):
    client = register(registry_ctx, owner="李娜")

    created = put_plan(http, tokens["staff"], client.id)
    assert created.status_code == 201, created.json
    assert created.headers["ETag"] == '"1"'
    assert created.json | {"created_at": None, "updated_at": None} == {
        "client_id": client.id, **PLAN, "owner": "李娜", "starts_on": today(clock).isoformat(),
        "next_due_on": (today(clock) + timedelta(days=30)).isoformat(),
        "last_interaction_at": None, "version": 1, "updated_by": "staff-user",
        "created_at": None, "updated_at": None}

    read = http.get(f"/api/v1/clients/{client.id}/communication-plan", headers=auth(tokens["analyst"]))
    assert (read.status_code, read.headers["ETag"], read.json) == (200, '"1"', created.json)

    replaced = put_plan(http, tokens["staff"], client.id, {**PLAN, "frequency_days": 7,
                                                           "owner": "Tom Baker"}, **{"If-Match": '"1"'})
    assert (replaced.status_code, replaced.headers["ETag"]) == (200, '"2"')
    assert (replaced.json["owner"], replaced.json["next_due_on"]) == (
        "Tom Baker", (today(clock) + timedelta(days=7)).isoformat())

    same = put_plan(http, tokens["staff"], client.id, {**PLAN, "frequency_days": 7, "owner": "Tom Baker"})
    assert (same.status_code, same.json["version"]) == (200, 2)  # nothing changed, no new version


def test_a_stale_if_match_on_the_plan_is_a_412_and_changes_nothing(http, tokens, registry_ctx):
    client = register(registry_ctx)
    assert put_plan(http, tokens["staff"], client.id, **{"If-Match": '"1"'}).status_code == 412
    put_plan(http, tokens["staff"], client.id)
    put_plan(http, tokens["staff"], client.id, {**PLAN, "channel": "email"})

    stale = put_plan(http, tokens["staff"], client.id, {**PLAN, "channel": "visit"}, **{"If-Match": '"1"'})

    assert stale.status_code == 412
    assert stale.headers["Content-Type"] == "application/problem+json"
    plan = http.get(f"/api/v1/clients/{client.id}/communication-plan", headers=auth(tokens["staff"])).json
    assert (plan["channel"], plan["version"]) == ("email", 2)


def test_no_plan_yet_is_a_404_and_an_unknown_client_too(http, tokens, registry_ctx):
    client = register(registry_ctx)
    assert http.get(f"/api/v1/clients/{client.id}/communication-plan",
                    headers=auth(tokens["staff"])).status_code == 404
    assert http.get(f"/api/v1/clients/{UNKNOWN}/communication-plan",
                    headers=auth(tokens["staff"])).status_code == 404
    assert put_plan(http, tokens["staff"], UNKNOWN).status_code == 404
    assert log(http, tokens["staff"], UNKNOWN).status_code == 404
    assert http.get(f"/api/v1/clients/{UNKNOWN}/interactions",
                    headers=auth(tokens["staff"])).status_code == 404


@pytest.mark.parametrize("change, field", [
    ({"channel": "fax"}, "channel"), ({"frequency_days": 0}, "frequency_days"),
    ({"frequency_days": "7"}, "frequency_days"), ({"frequency_days": 367}, "frequency_days"),
    ({"goal": ""}, "goal"), ({"goal": None}, "goal"), ({"starts_on": "2026-02-30"}, "starts_on"),
    ({"starts_on": "tomorrow"}, "starts_on"), ({"colour": "blue"}, "colour")])
def test_a_bad_plan_is_a_422_naming_the_field(http, tokens, registry_ctx, change, field):
    client = register(registry_ctx)
    answer = put_plan(http, tokens["staff"], client.id, {**PLAN, **change})
    assert answer.status_code == 422, answer.json
    assert field in answer.json["errors"]
    assert http.get(f"/api/v1/clients/{client.id}/communication-plan",
                    headers=auth(tokens["staff"])).status_code == 404


def test_care_writes_need_a_staff_token(http, tokens, registry_ctx):
    client = register(registry_ctx)
    assert http.put(f"/api/v1/clients/{client.id}/communication-plan", json=PLAN).status_code == 401
    assert put_plan(http, tokens["analyst"], client.id).status_code == 403
    assert log(http, tokens["analyst"], client.id).status_code == 403
    assert http.get(f"/api/v1/clients/{client.id}/interactions").status_code == 401
    assert http.get("/api/v1/followups/due").status_code == 401


def test_interactions_are_logged_listed_newest_first_and_move_the_due_date(http, tokens, registry_ctx, clock):
    client = register(registry_ctx)
    put_plan(http, tokens["staff"], client.id, {**PLAN, "frequency_days": 10,
                                                "starts_on": (today(clock) - timedelta(days=20)).isoformat()})
    earlier = (clock.now - timedelta(days=3)).isoformat().replace("+00:00", "Z")

    first = log(http, tokens["staff"], client.id, occurred_at=earlier, staff="Li Wei")
    second = log(http, tokens["staff"], client.id, channel="email", summary="Sent the minutes.")

    assert first.status_code == 201, first.json
    assert (first.json["staff"], first.json["occurred_at"]) == ("Li Wei", earlier.replace("Z", ".000000Z"))
    assert (second.json["staff"], second.json["created_by"]) == ("staff-user", "staff-user")
    listed = http.get(f"/api/v1/clients/{client.id}/interactions?per_page=1",
                      headers=auth(tokens["analyst"])).json
    assert (listed["total"], listed["per_page"], [item["id"] for item in listed["items"]]) == (
        2, 1, [second.json["id"]])
    plan = http.get(f"/api/v1/clients/{client.id}/communication-plan", headers=auth(tokens["staff"])).json
    assert plan["next_due_on"] == (today(clock) + timedelta(days=10)).isoformat()
    assert plan["last_interaction_at"] == second.json["occurred_at"]


@pytest.mark.parametrize("fields, field", [
    ({"channel": "carrier pigeon"}, "channel"), ({"summary": ""}, "summary"),
    ({"occurred_at": "2026-03-02"}, "occurred_at"), ({"occurred_at": "yesterday"}, "occurred_at")])
def test_a_bad_interaction_is_a_422(http, tokens, registry_ctx, fields, field):
    client = register(registry_ctx)
    answer = log(http, tokens["staff"], client.id, **fields)
    assert answer.status_code == 422 and field in answer.json["errors"], answer.json


def test_an_interaction_in_the_future_is_refused(http, tokens, registry_ctx, clock):
    client = register(registry_ctx)
    future = (clock.now + timedelta(days=1)).isoformat()
    answer = log(http, tokens["staff"], client.id, occurred_at=future)
    assert answer.status_code == 422 and "occurred_at" in answer.json["errors"]


def test_the_same_idempotency_key_logs_one_interaction(http, tokens, registry_ctx):
    client = register(registry_ctx)
    headers = auth(tokens["staff"], **{"Idempotency-Key": "call-1"})
    body = {"channel": "phone", "summary": "Follow-up call."}
    first = http.post(f"/api/v1/clients/{client.id}/interactions", json=body, headers=headers)
    again = http.post(f"/api/v1/clients/{client.id}/interactions", json=body, headers=headers)
    assert (first.status_code, again.status_code, again.json["id"]) == (201, 201, first.json["id"])
    listed = http.get(f"/api/v1/clients/{client.id}/interactions", headers=auth(tokens["staff"])).json
    assert listed["total"] == 1


@pytest.mark.parametrize("query", ["per_page=500", "page=0", "per_page=abc"])
def test_lists_refuse_bad_paging(http, tokens, registry_ctx, query):
    client = register(registry_ctx)
    assert http.get(f"/api/v1/clients/{client.id}/interactions?{query}",
                    headers=auth(tokens["staff"])).status_code == 422
    assert http.get(f"/api/v1/followups/due?{query}", headers=auth(tokens["staff"])).status_code == 422


def _planned(http, token, registry_ctx, clock, name, *, days_ago, frequency, **client_fields):
    client = register(registry_ctx, name, **client_fields)
    put_plan(http, token, client.id, {**PLAN, "frequency_days": frequency,
                                      "starts_on": (today(clock) - timedelta(days=days_ago)).isoformat()})
    return client


def test_followups_due_on_a_date_list_active_clients_longest_overdue_first(http, tokens, registry_ctx, clock):
    token = tokens["staff"]
    overdue = _planned(http, token, registry_ctx, clock, "Overdue", days_ago=40, frequency=30)
    due_today = _planned(http, token, registry_ctx, clock, "Due today", days_ago=30, frequency=30)
    _planned(http, token, registry_ctx, clock, "Not yet", days_ago=10, frequency=30)
    archived = _planned(http, token, registry_ctx, clock, "Archived", days_ago=40, frequency=30)
    http.delete(f"/api/v1/clients/{archived.id}", headers=auth(token))

    body = http.get("/api/v1/followups/due", headers=auth(tokens["analyst"])).json

    assert body["on"] == today(clock).isoformat()
    assert [(item["client_name"], item["overdue_days"]) for item in body["items"]] == [
        ("Overdue", 10), ("Due today", 0)]
    assert body["total"] == 2
    assert body["items"][0] | {"last_interaction_at": None} == {
        "client_id": overdue.id, "client_name": "Overdue", "kind": "external", "tier": "C",
        "health_band": "healthy", "due_on": (today(clock) - timedelta(days=10)).isoformat(),
        "overdue_days": 10, "owner": "staff-user", "channel": "meeting",
        "goal": PLAN["goal"], "frequency_days": 30, "last_interaction_at": None}

    earlier = (today(clock) - timedelta(days=5)).isoformat()
    assert [item["client_id"] for item in http.get(f"/api/v1/followups/due?on={earlier}",
                                                   headers=auth(token)).json["items"]] == [overdue.id]
    log(http, token, due_today.id)
    assert [item["client_id"] for item in http.get("/api/v1/followups/due",
                                                   headers=auth(token)).json["items"]] == [overdue.id]


@pytest.mark.parametrize("on", ["2026-02-30", "tomorrow", "2026/03/01", ""])
def test_followups_due_refuses_a_bad_date(http, tokens, on):
    answer = http.get(f"/api/v1/followups/due?on={on}", headers=auth(tokens["staff"]))
    assert answer.status_code == 422 and "on" in answer.json["errors"], answer.json


def test_the_due_date_is_a_calendar_date_in_the_installation_time_zone(settings, tokens):
    shanghai = settings.with_overrides(timezone="Asia/Shanghai")
    upgrade("registry", shanghai.database_url("registry"))
    clock = Clock()
    clock.now = datetime(2026, 3, 1, 17, 30, tzinfo=timezone.utc)  # already 2 March in Shanghai
    ctx = build_context(shanghai, clock=clock)
    try:
        http = create_app(context=ctx).test_client()
        client = register(ctx)
        plan = put_plan(http, tokens["staff"], client.id, {**PLAN, "frequency_days": 1}).json
        assert plan["starts_on"] == "2026-03-02"
        assert http.get("/api/v1/followups/due", headers=auth(tokens["staff"])).json["total"] == 0
        assert http.get("/api/v1/followups/due?on=2026-03-03",
                        headers=auth(tokens["staff"])).json["total"] == 1
    finally:
        ctx.database.dispose()


def test_the_job_publishes_followup_due_once_per_client_and_due_date(http, settings, registry_ctx, clock):
    token = make_token(settings, "staff", days=90)  # the clock moves a month on
    client = _planned(http, token, registry_ctx, clock, "Due", days_ago=31, frequency=30)
    _planned(http, token, registry_ctx, clock, "Not yet", days_ago=3, frequency=30)

    assert run_jobs(registry_ctx, clock.now)["followups_due"] == 1
    assert run_jobs(registry_ctx, clock.now)["followups_due"] == 0
    clock.advance(days=1)
    assert run_jobs(registry_ctx, clock.now)["followups_due"] == 0  # same due date, still overdue

    notices = published(registry_ctx, "client.followup.due")
    assert [event["data"] for event in notices] == [{
        "client_id": client.id, "due_on": (today(clock) - timedelta(days=2)).isoformat(),
        "owner": "staff-user", "channel": "meeting", "goal": PLAN["goal"]}]
    validate_data("client.followup.due", notices[0]["data"])

    log(http, token, client.id)  # contact made: due again in 30 days
    clock.advance(days=30)
    assert run_jobs(registry_ctx, clock.now)["followups_due"] == 2  # both clients now
    assert run_jobs(registry_ctx, clock.now)["followups_due"] == 0


def test_erasing_a_client_removes_its_plan_and_the_text_of_its_interactions(http, tokens, registry_ctx):
    client = register(registry_ctx)
    put_plan(http, tokens["staff"], client.id)
    log(http, tokens["staff"], client.id, summary="张伟 said the invoice was wrong.")

    assert http.post(f"/api/v1/clients/{client.id}/erase", headers=auth(tokens["admin"])).status_code == 200

    assert http.get(f"/api/v1/clients/{client.id}/communication-plan",
                    headers=auth(tokens["staff"])).status_code == 404
    items = http.get(f"/api/v1/clients/{client.id}/interactions", headers=auth(tokens["staff"])).json["items"]
    assert [item["summary"] for item in items] == ["(erased)"]
    assert log(http, tokens["staff"], client.id).status_code == 409
    assert put_plan(http, tokens["staff"], client.id).status_code == 409


@pytest.mark.parametrize("starts_on", ["9999-12-31", "0001-01-01"])
def test_a_plan_starting_out_of_any_sensible_range_is_a_422_not_an_overflow(http, tokens, registry_ctx, starts_on):
    client = register(registry_ctx)
    answer = put_plan(http, tokens["staff"], client.id, {**PLAN, "starts_on": starts_on})
    assert answer.status_code == 422 and "starts_on" in answer.json["errors"], answer.json


def test_an_interaction_dated_in_year_one_is_a_422(settings, tokens, clock):
    west = settings.with_overrides(timezone="America/Los_Angeles")
    upgrade("registry", west.database_url("registry"))
    ctx = build_context(west, clock=clock)
    try:
        http = create_app(context=ctx).test_client()
        client = register(ctx)
        answer = log(http, tokens["staff"], client.id, occurred_at="0001-01-01T00:00:00Z")
        assert answer.status_code == 422 and "occurred_at" in answer.json["errors"], answer.json
    finally:
        ctx.database.dispose()
