"""The analysis page: volume per week, breach rate, times, counts and the root-cause Pareto,
every chart with a table of the same numbers; and the weekly volume query on its own."""
from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from services.complaints.adapters.reports import weekly_volume
from services.complaints.adapters.repository import COMPLAINTS
from shared.db import Database
from shared.migrations import upgrade
from tests.complaints.console.console_helpers import text

RANGE = "/console/analysis?from=2025-03-03&to=2025-03-30"


def resolve(api, complaint, root_cause):
    for action in ("acknowledge", "start"):
        api.acted(complaint["id"], action)
    api.acted(complaint["id"], "resolve", root_cause=root_cause)


def rows_of(html: str, caption_id: str) -> list[list[str]]:
    """The body rows of the table in the section headed ``caption_id``."""
    section = html.split(f'id="{caption_id}"', 1)[1].split("</section>", 1)[0]
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [[re.sub(r"<[^>]+>", "", cell).strip()
             for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def section_ids(html: str) -> dict[str, str]:
    return {title: ident for ident, title in re.findall(r'<h2 id="([^"]+)">([^<]+)</h2>', html)}


@pytest.fixture
def history(api, clock):
    """Four weeks from Monday 3 March 2025: 2 complaints, 1, none, 1; three resolved."""
    first = api.opened(category="billing")
    second = api.opened(category="delivery", channel="phone")
    clock.advance(days=7)
    third = api.opened(category="billing", severity="high")
    clock.advance(days=14)
    api.opened(category="product")
    clock.advance(hours=1)
    for complaint, cause in ((first, "Duplicate billing run"), (second, "Courier delay"),
                             (third, "Duplicate billing run")):
        resolve(api, complaint, cause)
    clock.advance(days=8)
    return first, second, third


def test_every_chart_has_a_table_of_its_numbers(history, staff):
    response = staff.get(RANGE)

    assert response.status_code == 200
    html = text(response)
    ids = section_ids(html)
    assert rows_of(html, ids["Complaints opened per week"]) == [
        ["3 Mar 2025", "2"], ["10 Mar 2025", "1"], ["17 Mar 2025", "0"], ["24 Mar 2025", "1"]]
    assert rows_of(html, ids["Root causes (Pareto)"]) == [
        ["Duplicate billing run", "2", "66.7%", "66.7%"],
        ["Courier delay", "1", "33.3%", "100.0%"]]
    assert rows_of(html, ids["By category"])[:4] == [
        ["Product", "1"], ["Service", "0"], ["Delivery", "1"], ["Billing", "2"]]
    assert ["Phone", "1"] in rows_of(html, ids["By channel"])
    assert ["High", "1"] in rows_of(html, ids["By severity"])
    assert html.count('<img class="chart" src="data:image/svg+xml;base64,') == 6
    assert 'alt="Complaints opened per week. 3 Mar: 2; 10 Mar: 1; 17 Mar: 0; 24 Mar: 1"' in html


def test_the_summary_gives_rates_and_times(history, staff):
    html = text(staff.get(RANGE))

    summary = dict(map(tuple, rows_of(html, "summary-title")))
    assert summary["Complaints opened"] == "4"
    # the open product complaint (medium, opened 24 Mar 09:00) missed its response (8 h);
    # the first two were resolved 21 days after opening, past their 5-day deadline
    assert summary["SLA breach rate"] == "100.0%"
    assert summary["Reopen rate"] == "0.0%"
    # acknowledged when resolved: 21 d 1 h after opening twice, 14 d 1 h once
    assert summary["Time to acknowledge, median"] == "21 d 1 h"
    assert summary["Time to acknowledge, mean"] == "18 d 17 h"


def test_a_period_it_cannot_read_is_a_422_page(staff):
    for query, field in (("from=2025-02-30", "from"), ("from=2025-03-10&to=2025-03-01", "to"),
                         ("from=2020-01-01&to=2025-01-01", "from")):
        response = staff.get("/console/analysis?" + query)
        assert response.status_code == 422, query
        assert f'href="#field-{field}"' in text(response)


def test_the_analysis_is_open_to_analysts_in_chinese(history, console_as):
    html = text(console_as("analyst", language="zh-CN").get(RANGE))

    assert "<h2 id=\"chart-1\">每周登记的投诉</h2>" in html
    assert "2025年3月3日" in html


# -- the weekly volume on its own (SQLite and PostgreSQL) -------------------------------------

def _complaint(opened_at: datetime, number: int) -> dict:
    return {"id": f"00000000-0000-0000-0000-{number:012d}", "ref": f"CMP-{number:06d}",
            "client_id": "00000000-0000-0000-0000-000000000000", "channel": "email",
            "category": "billing", "severity": "low", "title": "t", "description": "",
            "status": "new", "opened_at": opened_at, "respond_by": opened_at,
            "resolve_by": opened_at, "version": 1, "created_by": "test",
            "updated_at": opened_at, "waiting_s": 0, "pause_extension_s": 0,
            "response_breach_published": False, "resolution_breach_published": False,
            "reopen_count": 0, "client_erased": False}


def weekly_counts(url: str) -> list[tuple[date, int]]:
    upgrade("complaints", url)
    database = Database(url)
    shanghai = ZoneInfo("Asia/Shanghai")
    moments = [datetime(2025, 3, 2, 15, 59), datetime(2025, 3, 2, 16, 0),   # Sun 23:59 / Mon 0:00
               datetime(2025, 3, 9, 15, 0), datetime(2025, 3, 20, 1, 0),
               datetime(2025, 3, 23, 16, 0)]                            # Mon 24 Mar: past `to`
    try:
        with database.transaction() as session:
            session.execute(insert(COMPLAINTS), [
                _complaint(moment.replace(tzinfo=ZoneInfo("UTC")), number)
                for number, moment in enumerate(moments, start=1)])
        with database.transaction() as session:
            return weekly_volume(session, first_day=date(2025, 3, 1), last_day=date(2025, 3, 23),
                                 zone=shanghai)
    finally:
        database.dispose()


EXPECTED_WEEKS = [(date(2025, 2, 24), 1), (date(2025, 3, 3), 2), (date(2025, 3, 10), 0),
                  (date(2025, 3, 17), 1)]


def test_weeks_run_monday_to_sunday_in_the_installations_time_zone(settings):
    assert weekly_counts(settings.database_url("complaints")) == EXPECTED_WEEKS


@pytest.mark.postgres
def test_weeks_on_postgresql(postgres_url):
    assert weekly_counts(postgres_url) == EXPECTED_WEEKS


def test_one_week_is_counted_too(settings):
    url = settings.database_url("complaints")
    upgrade("complaints", url)
    database = Database(url)
    try:
        with database.transaction() as session:
            assert weekly_volume(session, first_day=date(2025, 3, 4), last_day=date(2025, 3, 5),
                                 zone=ZoneInfo("UTC")) == [(date(2025, 3, 3), 0)]
    finally:
        database.dispose()
