"""Results per month (NPS, CSAT, CES as charts with tables), the responses and their CSV export
in the staff console."""
from __future__ import annotations

import base64
import re
from datetime import datetime, timezone

from tests.survey.console.forms import texts_of
from tests.survey.html_check import assert_valid_html
from tests.survey.survey_support import FULL_ANSWERS, active_survey, invite, learn_client, token_of

HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_ATTR = '"><img src=x onerror=alert(1)>'


def answer(http, staff, survey_ctx, survey_id: str, name: str, **answers) -> str:
    client = learn_client(survey_ctx, name=name)
    url = invite(http, staff, survey_id, client)["url"]
    response = http.post("/api/v1/public/responses",
                         json={"token": token_of(url), "answers": {**FULL_ANSWERS, **answers}})
    assert response.status_code == 201, response.get_data(as_text=True)
    return client


def test_results_show_nps_csat_and_ces_per_month_as_charts_with_tables(
        staff_console, analyst_console, survey_ctx, http, staff, clock):
    survey = active_survey(http, staff)
    answer(http, staff, survey_ctx, survey["id"], "Promoter", recommend=10, satisfied=5, effort=7)
    answer(http, staff, survey_ctx, survey["id"], "Detractor", recommend=3, satisfied=2, effort=2)
    path = f"/console/surveys/{survey['id']}/results"
    for console in (staff_console, analyst_console):
        page = assert_valid_html(console.get(path))
        month = datetime.now(timezone.utc).strftime("%b %Y")
        assert f'<th scope="row">{month}</th>' in page
        assert texts_of(page, "overall-heading") == "Overall"
        # NPS: one promoter, one detractor → 0; CSAT 50 %; CES mean 4.5.
        for shown in ("<dt>NPS</dt><dd>0.0</dd>", "<dt>CSAT</dt><dd>50.0%</dd>",
                      "<dt>CES</dt><dd>4.50</dd>", "<dt>Responses</dt><dd>2</dd>"):
            assert shown in page
        images = re.findall(
            r'<img class="chart" src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]+)"', page)
        assert [alt.split(".")[0] for _svg, alt in images] == [
            "NPS per month", "CSAT per month (% satisfied)", "CES per month (mean, 1–7)"]
        assert all(base64.b64decode(svg).startswith(b"<svg") for svg, _alt in images)
        assert f"{month}: 0" in images[0][1]

    early = staff_console.get(path + "?from=2001-01-01&to=2001-12-31")
    assert early.status_code == 200
    assert "No invitations or responses in this period yet." in early.get_data(as_text=True)
    wrong = staff_console.get(path + "?from=yesterday&to=2001-01-01")
    assert wrong.status_code == 422
    assert 'href="#field-from"' in assert_valid_html(wrong)
    backwards = staff_console.get(path + "?from=2002-01-01&to=2001-01-01")
    assert backwards.status_code == 422


def test_responses_are_listed_with_the_answers_as_chosen_and_hostile_text_as_text(
        staff_console, survey_ctx, http, staff):
    survey = active_survey(http, staff)
    answer(http, staff, survey_ctx, survey["id"], "Hostile " + HOSTILE_ATTR,
           comment=HOSTILE_SCRIPT, value="fair")
    page = assert_valid_html(staff_console.get(f"/console/surveys/{survey['id']}/responses"))
    assert HOSTILE_SCRIPT not in page and HOSTILE_ATTR not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Hostile &#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<dd>Fair</dd>" in page  # the option's label, not its key
    assert "<dd>Speed; Communication</dd>" in page
    assert 'href="/console/surveys/%s/responses.csv"' % survey["id"] in page


def test_the_csv_export_is_the_apis_for_the_signed_in_session(staff_console, analyst_console,
                                                               survey_ctx, http, staff):
    survey = active_survey(http, staff)
    for number in range(3):
        answer(http, staff, survey_ctx, survey["id"], f"Client {number}",
               comment="=HYPERLINK(\"x\")" if number == 0 else f"好 {number}")
    api = http.get(f"/api/v1/surveys/{survey['id']}/responses?format=csv", headers=staff)
    for console in (staff_console, analyst_console):
        exported = console.get(f"/console/surveys/{survey['id']}/responses.csv")
        assert exported.status_code == 200
        assert exported.is_streamed
        assert exported.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert exported.headers["Content-Disposition"] == api.headers["Content-Disposition"]
        assert exported.get_data() == api.get_data()
    assert exported.get_data().decode("utf-8").count("\r\n") == 4
    # No session, no CSV: the console sends the browser to sign in.
    assert http.get(f"/console/surveys/{survey['id']}/responses.csv").status_code == 303


def test_the_csv_comes_in_pieces_of_a_few_hundred_rows(survey_ctx):
    from services.survey import results
    from services.survey.domain.definition import validate_survey_definition
    from tests.survey.survey_support import survey_fields

    class Row:
        def __init__(self, number):
            self.id, self.invitation_id, self.client_id = f"r{number}", f"i{number}", "c"
            self.submitted_at = datetime(2026, 1, 1, tzinfo=timezone.utc)
            self.language, self.score, self.scoring_version = "en", None, "v1"
            self.answers = {"comment": f"row {number}"}

    definition = validate_survey_definition(survey_fields())
    chunks = list(results.csv_chunks(definition, (Row(n) for n in range(1201)),
                                     rows_per_chunk=500))
    assert len(chunks) == 4  # header, 500, 500, 201
    assert chunks[0].startswith("\ufeffresponse_id,")
    assert "".join(chunks) == results.csv_export(definition, [Row(n) for n in range(1201)])


def test_results_show_the_feedback_themes_and_the_detractor_drivers_in_both_languages(
        staff_console, zh_console, survey_ctx, http, staff):
    survey = active_survey(http, staff)
    for number, comment in enumerate(["物流太慢", "快递丢件了", "发货晚了三天", "物流信息不准",
                                      "快递员态度差"]):
        answer(http, staff, survey_ctx, survey["id"], f"Client {number}", recommend=number,
               comment=comment)
    answer(http, staff, survey_ctx, survey["id"], "Happy", recommend=10,
           comment=f"Support was quick {HOSTILE_SCRIPT}")
    path = f"/console/surveys/{survey['id']}/results"
    page = assert_valid_html(staff_console.get(path))
    assert texts_of(page, "themes-heading") == "Feedback themes"
    assert texts_of(page, "drivers-heading") == "Detractor drivers"
    themes = page.split('id="themes-heading"')[1].split('id="drivers-heading"')[0]
    # 物流 merges 快递 and 发货: five mentions of six comments, NPS −100
    assert re.search(r'<th scope="row">物流</th>\s*<td>发货、快递、物流</td>\s*'
                     r'<td class="number">5</td>\s*<td class="number">83.3%</td>', themes)
    assert "<q>快递员态度差</q>" in themes
    assert HOSTILE_SCRIPT not in page and "&lt;script&gt;" in page
    drivers = page.split('id="drivers-heading"')[1]
    assert re.findall(r'<th scope="row">([^<]+)</th>', drivers)[:1] == ["物流"]
    assert '<td class="number">-100.0</td>' in drivers
    chinese = zh_console.page(path)
    assert "反馈主题" in chinese and "贬损驱动因素" in chinese and "提及次数" in chinese
    empty = staff_console.get(path + "?from=2001-01-01&to=2001-12-31").get_data(as_text=True)
    assert "No comments in this period yet." in empty


def test_nps_per_month_shows_its_95_percent_interval_on_the_chart_and_in_the_table(
        staff_console, zh_console, survey_ctx, http, staff):
    survey = active_survey(http, staff)
    for number, score in enumerate((10, 9, 10, 2)):
        answer(http, staff, survey_ctx, survey["id"], f"Client {number}", recommend=score)
    path = f"/console/surveys/{survey['id']}/results"
    page = assert_valid_html(staff_console.get(path))
    # 3 promoters, 1 detractor: NPS 50, SE = √((.75·.25 + .25·.75 + 2·.75·.25)/4)·100 = 43.30,
    # 50 ± 1.96·43.30 = [−34.87, 134.87] clamped to 100.
    nps_section = page.split('id="chart-nps"')[1].split("</section>")[0]
    assert ">95 % interval<" in nps_section
    month = datetime.now(timezone.utc).strftime("%b %Y")
    row = re.search(rf"<tr>\s*<t[hd][^>]*>{month}</t[hd]>(.*?)</tr>", nps_section, re.S).group(1)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    assert cells[0] == "50" and cells[1] == "4"
    assert cells[2] == "-34.87 – 100"
    svg = base64.b64decode(re.search(
        r'<img class="chart" src="data:image/svg\+xml;base64,([^"]+)" alt="NPS per month',
        page).group(1)).decode()
    assert "95 % interval, low" in svg and "95 % interval, high" in svg
    assert "95% 置信区间" in zh_console.page(path)
