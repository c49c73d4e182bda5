"""The survey list, the landing page of ``/survey/console/``: status and counts, newest first,
paged in SQL; who may create surveys."""
from __future__ import annotations

from tests.survey.html_check import assert_valid_html
from tests.survey.survey_support import active_survey, create_survey, invite, learn_client


def test_an_unsigned_visitor_is_sent_to_sign_in(http):
    response = http.get("/console/")
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/sign-in?next=/console/"
    sign_in = http.get("/console/sign-in").get_data(as_text=True)
    assert '<input id="field-token" name="token" type="password"' in sign_in


def test_the_list_shows_each_surveys_status_and_counts_newest_first(staff_console, survey_ctx,
                                                                    http, staff, clock):
    older = active_survey(http, staff, title={"zh-CN": "旧的", "en": "Older"})
    clock.advance(seconds=1)
    newer = create_survey(http, staff, title={"zh-CN": "新的", "en": "Newer"})
    for name in ("A", "B"):
        invite(http, staff, older["id"], learn_client(survey_ctx, name=name))
    page = assert_valid_html(staff_console.get("/console/"))
    assert page.index("Newer") < page.index("Older")
    row = page.split("Older", 1)[1].split("</tr>", 1)[0]
    assert 'status-active">Active<' in row
    assert '<td class="number">2</td>' in row  # invitations
    assert "New survey" in page
    assert f'href="/console/surveys/{newer["id"]}"' in page

    drafts = staff_console.page("/console/?status=draft")
    assert "Newer" in drafts and "Older" not in drafts
    assert staff_console.get("/console/?status=bogus&page=abc").status_code == 200


def test_the_list_is_paged(staff_console, http, staff):
    for number in range(27):
        create_survey(http, staff, title={"zh-CN": f"问卷 {number}", "en": f"Survey {number}"})
    first = staff_console.page("/console/")
    second = staff_console.page("/console/?page=2")
    assert first.count('<th scope="row"><a href') == 25
    assert second.count('<th scope="row"><a href') == 2
    assert "26–27 of 27" in second


def test_titles_are_shown_in_the_readers_language(zh_console, staff_console, http, staff):
    create_survey(http, staff)
    chinese = assert_valid_html(zh_console.get("/console/"))
    assert '<html lang="zh-CN">' in chinese and "客户满意度调查" in chinese
    assert "新建问卷" in chinese
    english = staff_console.page("/console/")
    assert "Client satisfaction survey" in english


def test_unknown_surveys_and_invitations_are_404_pages(staff_console):
    import uuid
    missing = uuid.uuid4()
    for path in (f"/console/surveys/{missing}", f"/console/surveys/{missing}/results",
                 f"/console/surveys/{missing}/responses.csv", "/console/surveys/not-a-uuid"):
        response = staff_console.get(path)
        assert response.status_code == 404 and response.mimetype == "text/html", path
    refused = staff_console.post(f"/console/invitations/{missing}/revoke", {})
    assert refused.status_code == 404 and refused.mimetype == "text/html"


def test_the_status_filter_is_a_named_search_form(staff_console, http, staff):
    import re
    create_survey(http, staff, title={"zh-CN": "问卷", "en": "A survey"})
    page = staff_console.page("/console/")
    [form] = re.findall(r'<form\b[^>]*role="search"[^>]*>', page)
    assert 'aria-label="Find surveys"' in form and 'method="get"' in form
    assert 'name="status"' in page.split(form, 1)[1].split("</form>", 1)[0]
