"""``GET /api/v1/forecasts/at-risk`` over ledgers built from survey events, and
``GET /api/v1/forecasts/requirements``."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import auth
from tests.registry.conftest import deliver, register
from tests.registry.integration.test_registry_requirements_api import create


def test_a_falling_client_is_listed_with_date_and_band_and_a_stable_one_is_not(
        http, tokens, registry_ctx, bus, clock):
    falling = register(registry_ctx, "Falling Ltd")
    stable = register(registry_ctx, "Stable Ltd")
    two_points = register(registry_ctx, "Too Few Ltd")
    now = clock.now
    # S = 0.3·score + 0.7·S: 80 → 68 → 53.6 (b = −1.32 a day); 70 → 70 → 70 (b = 0)
    deliver(registry_ctx,
            *[bus.survey(falling.id, score, at=now - timedelta(days=days))
              for days, score in ((20, 80), (10, 40), (0, 20))],
            *[bus.survey(stable.id, 70, at=now - timedelta(days=days)) for days in (20, 10, 0)],
            *[bus.survey(two_points.id, score, at=now - timedelta(days=days))
              for days, score in ((20, 90), (0, 10))])
    answer = http.get("/api/v1/forecasts/at-risk", headers=auth(tokens["analyst"]))
    assert answer.status_code == 200, answer.json
    today = now.date()
    # worked in tests/registry/unit/test_registry_at_risk.py: health 72.2 → 69.9 on day 3
    assert (answer.json["days"], answer.json["total"], answer.json["page"]) == (90, 1, 1)
    [item] = answer.json["items"]
    assert {key: item[key] for key in item if key != "reasons"} == {
        "client_id": falling.id, "name": "Falling Ltd", "health_score": 72.2,
        "health_band": "healthy", "projected_health_score": 69.9, "projected_band": "at_risk",
        "projected_on": (today + timedelta(days=3)).isoformat()}
    assert "-1.32" in item["reasons"][0]
    short = http.get("/api/v1/forecasts/at-risk?days=2", headers=auth(tokens["analyst"]))
    assert (short.json["days"], short.json["items"], short.json["total"]) == (2, [], 0)
    for bad in ("0", "366", "soon"):
        assert http.get(f"/api/v1/forecasts/at-risk?days={bad}",
                        headers=auth(tokens["analyst"])).status_code == 422


def test_requirements_forecast_without_history_is_insufficient(http, tokens):
    answer = http.get("/api/v1/forecasts/requirements?horizon_months=3",
                      headers=auth(tokens["analyst"]))
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["method"] == "insufficient_history"
    assert [s["key"] for s in body["series"]] == ["requirements", "change_requests"]
    for series in body["series"]:
        assert len(series["history"]) == 24 and series["backtest"] is None
        assert len(series["forecast"]) == 3 and series["forecast"][0]["mean"] == 0
    assert http.get("/api/v1/forecasts/requirements?horizon_months=13",
                    headers=auth(tokens["analyst"])).status_code == 422


def test_requirements_forecast_over_fourteen_months_fits_the_damped_trend(
        http, tokens, registry_ctx, clock):
    client = register(registry_ctx)
    counts = [1 + (month % 3) for month in range(14)]
    for month, count in enumerate(counts):
        clock.now = datetime(2025 + month // 12, month % 12 + 1, 15, 12, 0, tzinfo=UTC)
        for _ in range(count):
            assert create(http, tokens["staff"], client.id).status_code == 201
    clock.now = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    body = http.get("/api/v1/forecasts/requirements", headers=auth(tokens["analyst"])).json
    assert body["method"] == "ets_damped"
    requirements, change_requests = body["series"]
    assert requirements["history"][-14:] == [
        {"month": f"{2025 + m // 12}-{m % 12 + 1:02d}-01", "count": c}
        for m, c in enumerate(counts)]
    assert requirements["backtest"]["points"] == 6
    assert [f["month"] for f in requirements["forecast"]] == [
        "2026-03-01", "2026-04-01", "2026-05-01", "2026-06-01", "2026-07-01", "2026-08-01"]
    assert {h["count"] for h in change_requests["history"]} == {0}


def test_the_at_risk_answer_is_cached_until_a_ledger_changes(
        http, tokens, registry_ctx, bus, clock, monkeypatch):
    from services.registry import forecasts
    falling = register(registry_ctx, "Falling Ltd")
    now = clock.now
    deliver(registry_ctx, *[bus.survey(falling.id, score, at=now - timedelta(days=days))
                            for days, score in ((20, 80), (10, 40), (0, 20))])
    first = http.get("/api/v1/forecasts/at-risk", headers=auth(tokens["analyst"])).json
    computed = []
    original = forecasts._at_risk
    monkeypatch.setattr(forecasts, "_at_risk",
                        lambda *a, **k: computed.append(1) or original(*a, **k))
    assert http.get("/api/v1/forecasts/at-risk", headers=auth(tokens["analyst"])).json == first
    assert computed == []
    # a new ledger entry is a new data version: recomputed, with the new satisfaction
    deliver(registry_ctx, bus.survey(falling.id, 100, at=now))
    after = http.get("/api/v1/forecasts/at-risk", headers=auth(tokens["analyst"])).json
    assert computed == [1]
    assert after != first
