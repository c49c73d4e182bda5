"""``clientloop up --demo``: a small portfolio of every kind, loaded once."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from services.registry.adapters.orm import RequirementRecord
from services.registry.app import build_context, load_demo
from services.registry.domain.clients import KINDS
from shared.config import Settings
from shared.demo import CLIENT_IDS
from shared.migrations import upgrade
from tests.conftest import TEST_SECRET, auth


def test_the_demo_covers_every_kind_and_tier_and_loads_only_into_an_empty_registry(registry_ctx, http, tokens):
    assert load_demo(registry_ctx) == 12
    assert load_demo(registry_ctx) == 0

    clients = http.get("/api/v1/clients?per_page=200", headers=auth(tokens["analyst"])).json["items"]
    assert len(clients) == 12
    # the ids the other services give their demo answers and complaints to (shared.demo)
    assert {client["id"] for client in clients} == set(CLIENT_IDS)
    assert {(client["kind"], client["category"]) for client in clients} == {
        (kind, category) for kind, categories in KINDS.items() for category in categories}
    assert {client["tier"] for client in clients} == {"A", "B", "C"}
    assert any(client["preferred_language"] == "en" for client in clients)
    assert any("华为" in client["name"] for client in clients)
    due = http.get("/api/v1/followups/due", headers=auth(tokens["analyst"])).json
    assert due["total"] == 3
    report = http.get("/api/v1/reports/portfolio", headers=auth(tokens["analyst"])).json
    assert report["clients"] == 12 and report["annual_value"]["amount"] == "4706000.00"


def test_the_demo_has_requirements_in_several_states_and_two_decided_change_requests(
        registry_ctx, http, tokens):
    load_demo(registry_ctx)
    analyst = auth(tokens["analyst"])
    items = http.get("/api/v1/requirements?per_page=200", headers=analyst).json["items"]
    assert {item["status"] for item in items} >= {
        "proposed", "analysed", "in_progress", "delivered", "accepted", "rejected"}
    assert any(item["overdue"] for item in items)
    changes = http.get("/api/v1/change-requests?per_page=200", headers=analyst).json["items"]
    assert all(change["decided_by"] != change["submitted_by"] for change in changes)
    # the newest two are on the requirement in progress; older ones belong to the history
    newest = changes[0]["requirement_id"]
    current = http.get(f"/api/v1/requirements/{newest}/change-requests", headers=analyst).json
    assert sorted(change["status"] for change in current["items"]) == ["approved", "rejected"]
    changed = http.get(f"/api/v1/requirements/{newest}", headers=analyst).json
    assert "按部门汇总" in changed["acceptance_criteria"]


def test_the_demo_gives_each_forecast_something_to_show(registry_ctx, http, tokens, clock):
    load_demo(registry_ctx)
    analyst = auth(tokens["analyst"])
    clients = {client["name"]: client for client in http.get(
        "/api/v1/clients?per_page=200", headers=analyst).json["items"]}
    # the sponsor's satisfaction falls over the last two months, the finance department's stays
    # level: both ledgers as the registry keeps any (from survey responses), backdated
    sponsor, finance = "陈军 (项目发起人 Sponsor)", "财务部 Finance Department"
    for name in (sponsor, finance):
        ledger = http.get(f"/api/v1/clients/{clients[name]['id']}/satisfaction",
                          headers=analyst).json["ledger"]
        times = sorted(datetime.fromisoformat(entry["occurred_at"]) for entry in ledger)
        assert len(ledger) >= 3 and times[-1] - times[0] >= timedelta(days=7), ledger
        assert times[0] >= clock.now - timedelta(days=90)
    at_risk = http.get("/api/v1/forecasts/at-risk?days=90", headers=analyst).json
    assert [item["name"] for item in at_risk["items"]] == [sponsor]
    [item] = at_risk["items"]
    assert (item["health_band"], item["projected_band"]) == ("healthy", "at_risk")
    assert clock.now.date() < date.fromisoformat(item["projected_on"]) <= \
        clock.now.date() + timedelta(days=30)

    # requirements and change requests created every month for 18 months before this one
    forecast = http.get("/api/v1/forecasts/requirements", headers=analyst).json
    assert forecast["method"] == "ets_damped"
    requirements, change_requests = forecast["series"]
    assert all(month["count"] > 0 for month in requirements["history"][-18:])
    assert sum(month["count"] for month in change_requests["history"]) > 12
    for series in (requirements, change_requests):
        assert series["backtest"]["points"] == 6 and series["backtest"]["mae"] is not None
    # the history is finished work: what the demo had before is still all that is open
    items = http.get("/api/v1/requirements?per_page=200", headers=analyst).json["items"]
    assert sorted(item["status"] for item in items
                  if item["status"] not in ("accepted", "rejected")) == [
        "analysed", "delivered", "in_progress", "proposed"]


def test_the_demo_is_the_same_every_time(tmp_path, clock):
    def loaded(folder: str) -> list:
        own = Settings.from_env({}, data_dir=tmp_path / folder, secret_key=TEST_SECRET)
        upgrade("registry", own.database_url("registry"))
        ctx = build_context(own, clock=clock)
        try:
            load_demo(ctx)
            with ctx.database.transaction() as session:
                return session.execute(select(
                    RequirementRecord.title, RequirementRecord.status,
                    RequirementRecord.created_at).order_by(RequirementRecord.created_at,
                                                           RequirementRecord.title)).all()
        finally:
            ctx.database.dispose()

    assert loaded("one") == loaded("two")
