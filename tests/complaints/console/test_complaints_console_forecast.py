"""The analysis page's forecast: the next weeks' band drawn in the weekly volume chart and
tabled beside it, with the numbers of ``GET /api/v1/forecasts/complaints``; and the demo's
history, long enough for a fitted model with a backtest."""
from __future__ import annotations

import base64
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from services.complaints.app import load_demo
from shared.demo import CLIENT_IDS
from tests.complaints.complaints_helpers import register_client
from tests.complaints.console.console_helpers import text

MONDAY = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
WEEKLY = "Complaints opened per week"


def api_forecast(api) -> dict:
    response = api.client.get("/api/v1/forecasts/complaints", query_string={"by": "none"},
                              headers=api.headers("analyst"))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def weekly_section(html: str) -> str:
    ident = dict((title, ident) for ident, title
                 in re.findall(r'<h2 id="([^"]+)">([^<]+)</h2>', html))
    key = WEEKLY if WEEKLY in ident else "每周登记的投诉"
    return html.split(f'id="{ident[key]}"', 1)[1].split("</section>", 1)[0]


def forecast_rows(section: str) -> list[list[str]]:
    table = section.split('aria-labelledby="forecast-', 1)[1]
    body = table.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [[re.sub(r"<[^>]+>", "", cell).strip()
             for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def weekly_svg(section: str) -> str:
    source = re.search(r'<img class="chart" src="data:image/svg\+xml;base64,([^"]+)"', section)
    return base64.b64decode(source.group(1)).decode()


def filled_paths(svg: str) -> list[str]:
    """The ``d`` of every filled line (the band's four edges, each shaded down to the axis)."""
    return re.findall(r'<path d="([^"]+)" class="line reactive"', svg)


def expected_row(item: dict) -> list[str]:
    day = date.fromisoformat(item["week"])
    return [f"{day.day} {day:%b %Y}", f"{item['mean']:.2f}",
            f"{item['lo80']:.2f}–{item['hi80']:.2f}", f"{item['lo95']:.2f}–{item['hi95']:.2f}"]


@pytest.fixture
def ten_weeks(api):
    """Ten complete weeks of 4, 1 and 3 complaints in turn, then two days into the next."""
    for week in range(10):
        api.clock.set(MONDAY + timedelta(weeks=week))
        for _ in range((4, 1, 3)[week % 3]):
            api.opened()
    api.clock.set(MONDAY + timedelta(weeks=10, days=2))


def test_the_weekly_chart_draws_the_forecast_band_and_tables_the_apis_numbers(
        ten_weeks, api, complaints_ctx, staff):
    html = text(staff.get("/console/analysis"))
    complaints_ctx.extras.pop("forecast_cache", None)  # the API computes it again
    [series] = api_forecast(api)["series"]

    section = weekly_section(html)
    assert len(series["forecast"]) == 8
    assert forecast_rows(section) == [expected_row(item) for item in series["forecast"]]
    assert forecast_rows(section)[0][:2] == ["17 Mar 2025", "2.80"]
    assert "Method: Too little history: the mean of the weeks so far, with Poisson intervals." \
        in section
    assert "No backtest: too little history." in section
    svg = weekly_svg(section)
    for label in ("95 % forecast interval", "80 % forecast interval", "Forecast mean",
                  "Complaints opened"):
        assert f">{label}<" in svg
    assert "stroke-dasharray:6,4" in svg  # the mean is dashed
    # four shaded edges (95 % high, 80 % high, 80 % low, 95 % low), each over the 8 weeks
    # from the current week on: the first point is the current week's, on the axis
    paths = filled_paths(svg)
    assert len(paths) == 4
    starts = {re.match(r"M([\d.]+) ", d).group(1) for d in paths}
    assert len(starts) == 1 and all(len(re.findall(r"[\d.]+ [\d.]+", d)) == 8 + 2
                                    for d in paths)
    assert re.search(r'alt="Complaints opened per week\. [^"]*10 Mar: 4; 17 Mar: 0"', section)


def test_a_period_in_the_past_keeps_the_forecast_table_without_a_band(ten_weeks, staff):
    section = weekly_section(text(staff.get("/console/analysis?from=2025-01-06&to=2025-01-26")))

    assert filled_paths(weekly_svg(section)) == []
    assert len(forecast_rows(section)) == 8


def test_the_forecast_is_labelled_in_chinese(ten_weeks, console_as):
    section = weekly_section(text(console_as("staff", language="zh-CN").get(
        "/console/analysis")))

    assert "未来几周的预测" in section and "预测周（起始日）" in section
    assert "方法：历史数据太少" in section and "没有回测：历史数据太少。" in section
    svg = weekly_svg(section)
    assert ">95% 预测区间<" in svg and ">预测均值<" in svg


def test_the_demo_has_a_year_of_history_and_the_page_shows_its_fitted_forecast(
        api, complaints_ctx, staff):
    register_client(complaints_ctx, name="Acme", client_id=CLIENT_IDS[0])
    register_client(complaints_ctx, name="Globex", tier="A", client_id=CLIENT_IDS[1])
    load_demo(complaints_ctx)

    body = api_forecast(api)
    [series] = body["series"]
    assert body["method"] == "ets_damped"
    test = series["backtest"]
    assert test["points"] == 12 and test["mae"] > 0 and test["mase"] is not None
    counts = [week["count"] for week in series["history"]]
    assert len(counts) == 52 and sum(count > 0 for count in counts) >= 48
    by_month = {}
    for week in series["history"]:
        by_month.setdefault(date.fromisoformat(week["week"]).month, []).append(week["count"])
    winter = [n for month in (12, 1) for n in by_month[month]]
    summer = [n for month in (6, 7, 8) for n in by_month[month]]
    assert sum(winter) / len(winter) > sum(summer) / len(summer) + 1  # the year-end peak

    complaints_ctx.extras.pop("forecast_cache", None)
    section = weekly_section(text(staff.get("/console/analysis")))
    assert forecast_rows(section) == [expected_row(item) for item in series["forecast"]]
    assert "Method: Exponential smoothing with a damped trend." in section
    assert (f"Backtest (one week ahead, last 12 weeks): MAE {test['mae']:.2f}, "
            f"MASE {test['mase']:.2f}.") in section
    assert len(filled_paths(weekly_svg(section))) == 4
