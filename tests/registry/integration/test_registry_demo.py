"""``clientloop up --demo``: a small portfolio of every kind, loaded once."""
from __future__ import annotations

from services.registry.app import load_demo
from services.registry.domain.clients import KINDS
from tests.conftest import auth


def test_the_demo_covers_every_kind_and_tier_and_loads_only_into_an_empty_registry(registry_ctx, http, tokens):
    assert load_demo(registry_ctx) == 12
    assert load_demo(registry_ctx) == 0

    clients = http.get("/api/v1/clients?per_page=200", headers=auth(tokens["analyst"])).json["items"]
    assert len(clients) == 12
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
    changes = http.get("/api/v1/change-requests", headers=analyst).json["items"]
    assert sorted(change["status"] for change in changes) == ["approved", "rejected"]
    assert all(change["decided_by"] != change["submitted_by"] for change in changes)
    changed = http.get(f"/api/v1/requirements/{changes[0]['requirement_id']}", headers=analyst).json
    assert "按部门汇总" in changed["acceptance_criteria"]
