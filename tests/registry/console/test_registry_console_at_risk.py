"""The portfolio page's at-risk forecast: the clients the API's ``/forecasts/at-risk`` lists
(same use case, same answer), in both languages, with a GET form for the days ahead."""
from __future__ import annotations

import re
from datetime import timedelta

from babel.dates import format_date

from services.registry.app import load_demo
from tests.conftest import auth
from tests.registry.conftest import deliver, register
from tests.registry.console.console_support import main_of


def at_risk_section(page: str) -> str:
    found = re.search(r'<section class="panel" aria-labelledby="at-risk">.*?</section>', page,
                      re.DOTALL)
    assert found, page[-2000:]
    return found.group(0)


def rows_of(section: str) -> list[list[str]]:
    """Each body row's cells, tags stripped and spaces collapsed."""
    body = section.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in section else ""
    return [[re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip()
             for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)]


def falling_and_stable(ctx, bus, clock):
    """As in the API's test: S 80 → 68 → 53.6 over 20 days (health 72.2, at risk on day 3);
    a client held at 70; one with too few entries for a trend."""
    falling = register(ctx, "Falling Ltd")
    stable = register(ctx, "Stable Ltd")
    few = register(ctx, "Too Few Ltd")
    now = clock.now
    deliver(ctx,
            *[bus.survey(falling.id, score, at=now - timedelta(days=days))
              for days, score in ((20, 80), (10, 40), (0, 20))],
            *[bus.survey(stable.id, 70, at=now - timedelta(days=days)) for days in (20, 10, 0)],
            *[bus.survey(few.id, score, at=now - timedelta(days=days))
              for days, score in ((20, 90), (0, 10))])
    return falling, stable


def test_the_portfolio_lists_the_falling_client_as_the_api_does_and_not_the_stable_one(
        registry_ctx, console_as, http, tokens, bus, clock):
    falling, _stable = falling_and_stable(registry_ctx, bus, clock)
    section = at_risk_section(main_of(console_as("analyst").get("/console/portfolio")))
    api = http.get("/api/v1/forecasts/at-risk?days=90", headers=auth(tokens["analyst"])).json
    [item] = api["items"]
    projected = clock.now.date() + timedelta(days=3)
    assert rows_of(section) == [[
        "Falling Ltd", "72.2 Healthy", "69.9 At risk", format_date(projected, "d MMM yyyy",
                                                                    locale="en"),
        "Satisfaction 53.60, trend -1.32 a day over the last 90 days"]]
    assert (item["name"], item["health_score"], item["projected_health_score"],
            item["projected_on"]) == ("Falling Ltd", 72.2, 69.9, projected.isoformat())
    assert f'<time datetime="{item["projected_on"]}">' in section
    assert f'href="/console/clients/{falling.id}"' in section
    assert "Stable Ltd" not in section and "Too Few Ltd" not in section
    assert "within 90 days" in section


def test_the_forecast_speaks_chinese(registry_ctx, console_as, bus, clock):
    falling_and_stable(registry_ctx, bus, clock)
    section = at_risk_section(main_of(
        console_as("analyst", language="zh-CN").get("/console/portfolio")))
    projected = clock.now.date() + timedelta(days=3)
    assert "健康风险预测" in section and "预计 90 天内健康区间变差的客户" in section
    assert rows_of(section) == [[
        "Falling Ltd", "72.2 健康", "69.9 有风险", f"{projected.year}年{projected.month}月"
                                                  f"{projected.day}日",
        "满意度 53.60，近 90 天趋势每天 -1.32"]]
    empty = at_risk_section(main_of(
        console_as("analyst", language="zh-CN").get("/console/portfolio?days=2")))
    assert "预计 2 天内没有客户的健康区间变差。" in empty


def test_the_days_form_asks_again_without_javascript_and_bad_values_fall_back_to_90(
        registry_ctx, console_as, bus, clock):
    falling_and_stable(registry_ctx, bus, clock)
    client = console_as("analyst")
    section = at_risk_section(main_of(client.get("/console/portfolio")))
    form = re.search(r'<form[^>]*method="get"[^>]*>.*?</form>', section, re.DOTALL).group(0)
    assert 'action="/console/portfolio#at-risk"' in form
    assert re.search(r'<input id="field-days" name="days" type="number" value="90"', form)

    short = client.get("/console/portfolio?days=2")
    assert short.status_code == 200
    section = at_risk_section(main_of(short))
    assert rows_of(section) == [] and "Falling Ltd" not in section
    assert "No client&#39;s health band is projected to get worse within 2 days." in section
    assert 'value="2"' in section
    one = at_risk_section(main_of(client.get("/console/portfolio?days=1")))
    assert "within 1 day." in one
    assert [row[0] for row in rows_of(at_risk_section(main_of(
        client.get("/console/portfolio?days=3"))))] == ["Falling Ltd"]

    for bad in ("0", "366", "soon", "-5", "2.5", "", "٣"):
        answer = client.get(f"/console/portfolio?days={bad}")
        assert answer.status_code == 200, bad
        section = at_risk_section(main_of(answer))
        assert 'value="90"' in section, bad
        assert [row[0] for row in rows_of(section)] == ["Falling Ltd"], bad


def test_the_demo_portfolio_lists_a_client_at_risk(registry_ctx, console_as, http, tokens):
    load_demo(registry_ctx)
    section = at_risk_section(main_of(console_as("analyst").get("/console/portfolio")))
    api = http.get("/api/v1/forecasts/at-risk", headers=auth(tokens["analyst"])).json
    assert api["items"]
    assert [row[0] for row in rows_of(section)] == [item["name"] for item in api["items"]]
    assert "陈军 (项目发起人 Sponsor)" in section and "财务部" not in section


def test_the_reasons_name_the_complaints_that_weigh(registry_ctx, console_as, http, tokens, bus,
                                                      clock):
    falling, _stable = falling_and_stable(registry_ctx, bus, clock)
    deliver(registry_ctx, bus.opened(falling.id, "low", ref="CMP-000001",
                                     at=clock.now - timedelta(hours=1)))
    api = http.get("/api/v1/forecasts/at-risk", headers=auth(tokens["analyst"])).json
    [item] = api["items"]
    assert item["reasons"][1:] == ["1 open complaint(s)", "1 complaint(s) in the last 90 days"]
    [row] = rows_of(at_risk_section(main_of(console_as("analyst").get("/console/portfolio"))))
    assert row[0] == "Falling Ltd" and row[1].startswith(f"{item['health_score']} ")
    assert row[4].endswith("a day over the last 90 days 1 open complaint "
                           "1 complaint in the last 90 days")
    [row] = rows_of(at_risk_section(main_of(
        console_as("analyst", language="zh-CN").get("/console/portfolio"))))
    assert row[4].endswith("1 个未结投诉 近 90 天 1 个投诉")


def test_a_long_list_comes_in_pages_that_keep_the_days(registry_ctx, console_as, bus, clock):
    now = clock.now
    for number in range(26):
        client = register(registry_ctx, f"Falling {number:02d}")
        deliver(registry_ctx, *[bus.survey(client.id, score, at=now - timedelta(days=days))
                                for days, score in ((20, 80), (10, 40), (0, 20))])
    client = console_as("analyst")
    first = at_risk_section(main_of(client.get("/console/portfolio?days=30")))
    assert [row[0] for row in rows_of(first)] == [f"Falling {n:02d}" for n in range(25)]
    assert "1–25 of 26" in first and 'href="?days=30&amp;page=2"' in first
    second = at_risk_section(main_of(client.get("/console/portfolio?days=30&page=2")))
    assert [row[0] for row in rows_of(second)] == ["Falling 25"]
    beyond = at_risk_section(main_of(client.get("/console/portfolio?days=30&page=9")))
    assert [row[0] for row in rows_of(beyond)] == ["Falling 25"]
