"""The analysis page's root-cause Pareto (normalised root causes) and improvement actions: the
list with status and effect, the form to plan one, the workflow buttons (staff only)."""
from __future__ import annotations

import re

from tests.complaints.console.console_helpers import flashes, post_form, text
from tests.complaints.console.test_complaints_console_analysis import (RANGE, resolve, rows_of,
                                                                       section_ids)
from tests.complaints.test_improvements_api import acted, created

PAGE = "/console/analysis"


def improvement_rows(html: str) -> list[list[str]]:
    return rows_of(html, "improvements-title")


def test_the_pareto_chart_groups_spellings_and_has_its_table(api, staff):
    for cause in ("Late  delivery", "late delivery", "Defect"):
        resolve(api, api.opened(), cause)
    html = text(staff.get(RANGE))
    pareto = section_ids(html)["Root causes (Pareto)"]
    section = html.split(f'id="{pareto}"', 1)[1].split("</section>", 1)[0]
    assert '<img class="chart" src="data:image/svg+xml;base64,' in section
    # one row for both spellings; a tie shows the first in code-point order
    assert [row[:2] for row in rows_of(html, pareto)] == [["Late delivery", "2"],
                                                          ["Defect", "1"]]


def test_improvements_are_listed_with_status_effect_and_buttons(api, staff, analyst):
    for _ in range(3):
        resolve(api, api.opened(), "Late delivery")
    api.clock.advance(days=1)
    improvement = created(api, title="Carrier SLA", root_cause="late  delivery")
    acted(api, improvement["id"], "start")
    html = text(staff.get(PAGE))
    [row] = improvement_rows(html)
    assert row[:3] == ["Carrier SLA", "late delivery", "In progress"]
    assert row[5] == "1 (3 complaints)" and row[6] == "—" and row[7] == "—"
    assert re.findall(r'<button class="button button-secondary" type="submit">([^<]+)</button>',
                      html.split('id="improvements-title"', 1)[1]) == ["Complete",
                                                                      "Cancel action"]
    seen = text(analyst.get(PAGE))
    assert "Carrier SLA" in seen
    assert "/actions" not in seen.split('id="improvements-title"', 1)[1]
    assert "Plan an improvement action" not in seen


def test_staff_plan_an_improvement_and_act_on_it(api, staff):
    answer = post_form(staff, PAGE, "/console/improvements",
                       {"title": "Second carrier", "root_cause": "Carrier delay",
                        "category": "delivery", "owner": "Li Wei", "due_on": "2025-04-30"},
                       follow=True)
    assert answer.status_code == 200
    assert flashes(answer) == ["Improvement action planned: Second carrier."]
    [item] = api.client.get("/api/v1/improvements", headers=api.headers()).get_json()["items"]
    assert (item["status"], item["owner"], item["due_on"]) == ("planned", "Li Wei",
                                                               "2025-04-30")
    path = f"/console/improvements/{item['id']}/actions"
    answer = post_form(staff, PAGE, path, {"action": "start", "version": "1"}, follow=True)
    assert flashes(answer) == ["Start: done."]
    answer = post_form(staff, PAGE, path, {"action": "judge_effective", "version": "2"},
                       follow=True)
    assert flashes(answer) == ["Judge effective is not allowed now. Allowed: Complete, "
                               "Cancel action."]
    answer = post_form(staff, PAGE, path, {"action": "complete", "version": "1"}, follow=True)
    assert "changed since you opened the page" in flashes(answer)[0]
    assert api.client.get(f"/api/v1/improvements/{item['id']}",
                          headers=api.headers()).get_json()["status"] == "in_progress"


def test_an_invalid_plan_is_shown_again_with_its_errors(staff):
    answer = post_form(staff, PAGE, "/console/improvements",
                       {"title": "Typed title", "root_cause": " ", "due_on": "soon"})
    assert answer.status_code == 422
    html = text(answer)
    assert 'value="Typed title"' in html
    assert 'id="error-root_cause"' in html and 'id="error-due_on"' in html


def test_analyst_posting_is_refused_and_changes_nothing(api, analyst):
    improvement = created(api)
    assert post_form(analyst, PAGE, "/console/improvements",
                     {"title": "X", "root_cause": "Y"}).status_code == 403
    assert post_form(analyst, PAGE, f"/console/improvements/{improvement['id']}/actions",
                     {"action": "start"}).status_code == 403
    listed = api.client.get("/api/v1/improvements", headers=api.headers()).get_json()
    assert listed["total"] == 1 and listed["items"][0]["status"] == "planned"


def test_a_post_without_csrf_changes_nothing(api, staff):
    answer = staff.post("/console/improvements", data={"title": "X", "root_cause": "Y"})
    assert answer.status_code in (400, 403)
    assert api.client.get("/api/v1/improvements", headers=api.headers()).get_json()["total"] == 0


def test_the_page_in_chinese(api, console_as):
    created(api, title="承运商")
    html = text(console_as("staff", language="zh-CN").get(PAGE))
    assert "改进措施" in html and "已计划" in html and "开始处理" in html
