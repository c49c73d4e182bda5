"""``GET /api/v1/forecasts/complaints`` over complaint histories opened through the API."""
from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import services.complaints.forecasts as forecasts

MONDAY = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def forecast(api, **query):
    response = api.client.get("/api/v1/forecasts/complaints", query_string=query,
                              headers=api.headers("analyst"))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_no_complaints_is_insufficient_history_with_zero_forecast(api):
    api.clock.set(MONDAY)
    body = forecast(api)
    assert (body["by"], body["method"]) == ("none", "insufficient_history")
    [series] = body["series"]
    assert series["key"] is None and series["backtest"] is None
    assert len(series["history"]) == 52 and {h["count"] for h in series["history"]} == {0}
    assert series["history"][-1]["week"] == "2024-12-30"
    assert [f["week"] for f in series["forecast"]][:2] == ["2025-01-06", "2025-01-13"]
    assert len(series["forecast"]) == 8
    assert {(f["mean"], f["lo80"], f["hi80"], f["lo95"], f["hi95"])
            for f in series["forecast"]} == {(0, 0, 0, 0, 0)}
    assert forecast(api, by="category") == {"by": "category", "method": "insufficient_history",
                                            "series": []}


def test_parameters_are_validated(api):
    for query in ({"horizon_weeks": 27}, {"horizon_weeks": 0}, {"by": "client"},
                  {"colour": "red"}):
        response = api.client.get("/api/v1/forecasts/complaints", query_string=query,
                                  headers=api.headers("analyst"))
        assert response.status_code == 422, query


def test_ten_weeks_of_history_is_insufficient_with_the_mean_and_poisson_intervals(api):
    for week in range(10):
        api.clock.set(MONDAY + timedelta(weeks=week))
        for _ in range(4):
            api.opened()
    api.clock.set(MONDAY + timedelta(weeks=10, days=2))  # mid-week: the current week is excluded
    api.opened()
    body = forecast(api, horizon_weeks=3)
    [series] = body["series"]
    assert body["method"] == "insufficient_history" and series["backtest"] is None
    assert [h["count"] for h in series["history"][-11:]] == [0] + [4] * 10
    assert series["forecast"][0] == {"week": "2025-03-17", "mean": 4.0, "lo80": 2.0,
                                     "hi80": 7.0, "lo95": 1.0, "hi95": 8.0}
    assert len(series["forecast"]) == 3


def test_thirty_weeks_by_category_fit_the_damped_trend_with_a_backtest(api, monkeypatch):
    counts = [2 + (week % 3) for week in range(30)]
    for week, count in enumerate(counts):
        api.clock.set(MONDAY + timedelta(weeks=week))
        for i in range(count):
            api.opened(category="billing" if i % 2 == 0 else "delivery")
    api.clock.set(MONDAY + timedelta(weeks=30))
    body = forecast(api, by="category", horizon_weeks=4)
    assert body["method"] == "ets_damped"
    assert [s["key"] for s in body["series"]] == ["billing", "delivery"]
    billing = body["series"][0]
    assert [h["count"] for h in billing["history"][-30:]] == [(c + 1) // 2 for c in counts]
    assert billing["backtest"]["points"] == 12 and billing["backtest"]["mae"] >= 0
    assert [f["week"] for f in billing["forecast"]] == [
        (date(2025, 8, 4) + timedelta(weeks=i)).isoformat() for i in range(4)]
    for band in billing["forecast"]:
        assert 0 <= band["lo95"] <= band["lo80"] <= band["mean"] <= band["hi80"] <= band["hi95"]
    total = forecast(api)["series"][0]
    assert [h["count"] for h in total["history"][-30:]] == counts

    computed = []
    original = forecasts._compute
    monkeypatch.setattr(forecasts, "_compute",
                        lambda *a, **k: computed.append(1) or original(*a, **k))
    started = time.perf_counter()
    assert forecast(api, by="category", horizon_weeks=4) == body  # cached: not recomputed
    assert time.perf_counter() - started < 0.3
    assert computed == []
    api.opened()  # a new complaint is a new data version
    forecast(api, by="category", horizon_weeks=4)
    assert computed == [1]
