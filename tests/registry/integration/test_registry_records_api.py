"""``GET …/satisfaction``, ``GET …/value``, ``GET /reports/portfolio`` and the list filters by
tier and health band, as a staff member or an analyst sees them."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import auth
from tests.registry.conftest import deliver, register

UNKNOWN = "00000000-0000-4000-8000-000000000000"
MINUS = "\u2212"


def cny(amount: str) -> dict:
    return {"amount": amount, "currency": "CNY"}


@pytest.fixture
def complained(registry_ctx, bus, clock):
    """A tier B client with a survey, then a high complaint resolved within SLA."""
    client = register(registry_ctx, "华为 Huawei", annual_value=cny("150000.00"))
    ref = "CMP-000042"
    at = clock.now - timedelta(days=10)
    events = [bus.survey(client.id, 66.666, at=at),
              bus.opened(client.id, "high", ref=ref, at=at + timedelta(days=1)),
              bus.resolved(client.id, "high", ref=ref, at=at + timedelta(days=2))]
    deliver(registry_ctx, *events)
    return client, events


def test_satisfaction_shows_the_current_value_and_the_ledger_rounded_half_up(http, tokens, complained):
    client, (survey, opened, resolved) = complained

    answer = http.get(f"/api/v1/clients/{client.id}/satisfaction", headers=auth(tokens["analyst"]))

    assert answer.status_code == 200, answer.json
    body = answer.json
    # 66.666 → 66.67 shown; −10 → 56.666 → 56.67; +5 → 61.666 → 61.67
    assert body["client_id"] == client.id
    assert body["current"] == 61.67
    assert [(entry["event_id"], entry["event_type"], entry["delta"], entry["value"])
            for entry in body["ledger"]] == [
        (survey["id"], "survey.response.submitted", None, 66.67),
        (opened["id"], "complaint.opened", -10.0, 56.67),
        (resolved["id"], "complaint.resolved", 5.0, 61.67)]
    assert body["ledger"][1]["reason"] == f"Complaint CMP-000042 (high) opened: {MINUS}10"
    assert body["ledger"][0]["occurred_at"] == survey["time"]
    assert all(entry["occurred_at"].endswith("Z") for entry in body["ledger"])


def test_satisfaction_of_a_client_with_no_feedback_is_null(http, tokens, registry_ctx):
    client = register(registry_ctx)
    body = http.get(f"/api/v1/clients/{client.id}/satisfaction", headers=auth(tokens["staff"])).json
    assert body == {"client_id": client.id, "current": None, "ledger": []}


def test_value_shows_the_record_and_its_history_with_causes(http, tokens, complained):
    client, (survey, opened, resolved) = complained

    body = http.get(f"/api/v1/clients/{client.id}/value", headers=auth(tokens["staff"])).json

    assert body["client_id"] == client.id
    current = body["current"]
    assert current | {"as_of": None} == {
        "annual_value": cny("150000.00"), "tier": "B",
        "open_complaints": {"low": 0, "medium": 0, "high": 0, "critical": 0},
        "complaints_90d": 1, "satisfaction": 61.67,
        # 0.6 × 61.666 + 0.4 × (100 − 5) = 75.0
        "health_score": 75.0, "health_band": "healthy", "value_at_risk": cny("0.00"), "as_of": None}
    assert current["as_of"].endswith("Z")
    history = body["history"]
    assert [(entry["cause"]["event_type"] if entry["cause"] else None, entry["tier"],
             entry["health_score"], entry["health_band"], entry["value_at_risk"])
            for entry in history] == [
        # the survey came before registration here, so the first record is on no annual value
        ("survey.response.submitted", "C", 80.0, "healthy", cny("0.00")),
        ("complaint.opened", "C", 62.0, "at_risk", cny("0.00")),
        ("complaint.resolved", "C", 75.0, "healthy", cny("0.00")),
        ("client.registered", "B", 75.0, "healthy", cny("0.00"))]
    assert history[1]["cause"] == {"event_id": opened["id"], "event_type": "complaint.opened"}
    assert history[1]["at"] == opened["time"]


@pytest.mark.parametrize("path", ["satisfaction", "value"])
def test_records_need_a_token_and_a_known_client(http, tokens, registry_ctx, path):
    client = register(registry_ctx)
    assert http.get(f"/api/v1/clients/{client.id}/{path}").status_code == 401
    assert http.get(f"/api/v1/clients/{client.id}/{path}",
                    headers=auth("not-a-token")).status_code == 401
    missing = http.get(f"/api/v1/clients/{UNKNOWN}/{path}", headers=auth(tokens["analyst"]))
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/problem+json"
    assert http.get(f"/api/v1/clients/not-a-uuid/{path}", headers=auth(tokens["analyst"])).status_code == 404
    assert http.post(f"/api/v1/clients/{client.id}/{path}", json={},
                     headers=auth(tokens["staff"])).status_code == 405


def test_the_list_filters_by_tier_and_health_band_as_the_records_say(http, tokens, registry_ctx, bus):
    register(registry_ctx, "Steady", annual_value=cny("1000000.00"))
    troubled = register(registry_ctx, "Troubled", annual_value=cny("999999.99"))
    register(registry_ctx, "Small")
    deliver(registry_ctx, bus.opened(troubled.id, "critical"), bus.opened(troubled.id, "critical"))

    def names(query):
        answer = http.get(f"/api/v1/clients?{query}", headers=auth(tokens["analyst"]))
        assert answer.status_code == 200, answer.json
        return [item["name"] for item in answer.json["items"]]

    assert names("tier=A") == ["Steady"]
    assert names("tier=B") == ["Troubled"]
    assert names("tier=C") == ["Small"]
    # Troubled: S 30, C = 100 − 50 − 10 = 40 → 18 + 16 = 34.0 critical
    assert names("health_band=critical") == ["Troubled"]
    assert names("health_band=healthy") == ["Small", "Steady"]
    assert names("tier=B&health_band=critical") == ["Troubled"]
    item = http.get(f"/api/v1/clients/{troubled.id}", headers=auth(tokens["analyst"])).json
    assert (item["satisfaction"], item["health_score"], item["health_band"], item["value_at_risk"]) == \
        (30.0, 34.0, "critical", cny("999999.99"))
    assert http.get("/api/v1/clients?tier=D", headers=auth(tokens["analyst"])).status_code == 422
    assert http.get("/api/v1/clients?health_band=fine", headers=auth(tokens["analyst"])).status_code == 422


def test_the_portfolio_sums_active_clients_by_kind_tier_and_band(http, tokens, registry_ctx, bus, clock):
    big = register(registry_ctx, "Big", annual_value=cny("2000000.00"))
    mid = register(registry_ctx, "Mid", annual_value=cny("300000.50"))
    register(registry_ctx, "Sponsor", kind="internal", category="stakeholder")
    gone = register(registry_ctx, "Gone", annual_value=cny("500000.00"))
    hour = timedelta(hours=1)
    deliver(registry_ctx, bus.survey(big.id, 90), bus.survey(mid.id, 75.555, at=clock.now - 2 * hour),
            bus.opened(mid.id, "critical", at=clock.now - hour), bus.opened(mid.id, "high"))
    assert http.delete(f"/api/v1/clients/{gone.id}", headers=auth(tokens["staff"])).status_code == 200

    answer = http.get("/api/v1/reports/portfolio", headers=auth(tokens["analyst"]))

    assert answer.status_code == 200, answer.json
    report = answer.json
    # Mid: S 75.555 → 55.555 → 45.555 (shown 45.56); C = 100 − 50 − 10 = 40 → 27.3 + 16 = 43.3 at_risk
    assert (report["clients"], report["satisfaction_mean"], report["satisfaction_measured"]) == (3, 67.78, 2)
    assert report["annual_value"] == cny("2300000.50")
    assert report["value_at_risk"] == cny("150000.25")
    assert report["by_tier"]["A"] | {} == {"clients": 1, "satisfaction_mean": 90.0,
                                           "satisfaction_measured": 1,
                                           "annual_value": cny("2000000.00"),
                                           "value_at_risk": cny("0.00")}
    assert report["by_tier"]["C"]["clients"] == 1
    assert report["by_band"]["at_risk"]["value_at_risk"] == cny("150000.25")
    assert report["by_band"]["critical"] == {"clients": 0, "satisfaction_mean": None,
                                             "satisfaction_measured": 0,
                                             "annual_value": cny("0.00"), "value_at_risk": cny("0.00")}
    assert set(report["by_kind"]) == {"internal", "external", "potential", "end_user"}
    assert report["by_kind"]["internal"]["clients"] == 1
    assert report["by_kind"]["external"]["annual_value"] == cny("2300000.50")


def test_the_portfolio_needs_a_token(http, tokens):
    assert http.get("/api/v1/reports/portfolio").status_code == 401
    empty = http.get("/api/v1/reports/portfolio", headers=auth(tokens["analyst"])).json
    assert (empty["clients"], empty["satisfaction_mean"], empty["annual_value"]) == (0, None, cny("0.00"))


def test_the_portfolio_on_postgresql_scans_once_and_agrees_with_the_portable_queries(
        settings, postgres_url, tokens, clock, bus):
    from services.registry import reports
    from services.registry.app import build_context, create_app
    from shared.migrations import upgrade

    upgrade("registry", postgres_url)
    ctx = build_context(settings.with_overrides(database_urls={**settings.database_urls,
                                                               "registry": postgres_url}), clock=clock)
    try:
        http = create_app(context=ctx).test_client()
        assert http.get("/api/v1/reports/portfolio", headers=auth(tokens["analyst"])).json["clients"] == 0
        amounts = ("2000000.00", "300000.50", None, "120000.00", "99999.99")
        clients = [register(ctx, f"PG {n}", **({} if a is None else {"annual_value": cny(a)}))
                   for n, a in enumerate(amounts)]
        register(ctx, "Stakeholder", kind="internal", category="stakeholder")
        hour = timedelta(hours=1)
        deliver(ctx, bus.survey(clients[0].id, 88.8, at=clock.now - 3 * hour),
                bus.opened(clients[1].id, "critical", at=clock.now - 2 * hour),
                bus.opened(clients[1].id, "critical", at=clock.now - hour),
                bus.opened(clients[3].id, "high"), bus.survey(clients[4].id, 12.34))
        with ctx.database.transaction() as session:
            one_scan = reports.portfolio(session, "CNY")
            assert reports._grouping_sets(session) == reports._grouped_queries(session)
        answer = http.get("/api/v1/reports/portfolio", headers=auth(tokens["analyst"])).json
        assert answer["clients"] == one_scan["clients"] == 6
        assert answer["annual_value"] == cny("2520000.49")
        assert answer["by_band"]["critical"]["clients"] == 1
        assert answer["satisfaction_mean"] == float(one_scan["satisfaction_mean"])
    finally:
        ctx.database.dispose()
