"""The HTML form at ``/s/{token}``: language, errors that keep answers, CSRF, thanks, gone."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from services.survey.adapters.orm import ResponseRecord
from tests.survey.survey_support import (HOSTILE, active_survey, invite, learn_client, outbox,
                                         token_of)

FORM_TOKEN = re.compile(r'name="_form" value="([^"]+)"')


@pytest.fixture
def opened(http, staff, survey_ctx):
    def open_link(language="zh-CN", **survey_overrides):
        survey = active_survey(http, staff, **survey_overrides)
        client_id = learn_client(survey_ctx, language=language, name="秘密客户 Secret Client")
        item = invite(http, staff, survey["id"], client_id)
        token = token_of(item["url"])
        page = http.get(f"/s/{token}")
        return token, page
    return open_link


def form_token(page) -> str:
    return FORM_TOKEN.search(page.get_data(as_text=True)).group(1)


def good_form(page, **overrides):
    form = {"_form": form_token(page), "recommend": "9", "satisfied": "4", "effort": "6",
            "quality": "4", "value": "good", "improve": ["speed", "communication"],
            "comment": "  很好 good  "}
    form.update(overrides)
    return form


def stored_responses(ctx) -> int:
    with ctx.database.transaction() as session:
        return session.execute(select(func.count()).select_from(ResponseRecord)).scalar_one()


def test_the_form_is_in_the_invitation_language_with_every_question_and_safe_headers(opened):
    _token, page = opened("zh-CN")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert '<html lang="zh-CN">' in html
    assert "客户满意度调查" in html and "Client satisfaction survey" not in html
    assert "您有多大可能推荐我们？" in html and "提交" in html
    assert html.count('type="radio"') == 11 + 5 + 7 + 5 + 3
    assert html.count('type="checkbox"') == 3 and "<textarea" in html
    assert "<legend" in html and 'for="q-comment"' in html
    assert "<script" not in html
    assert "秘密客户" not in html and "Secret Client" not in html
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


def test_an_english_invitation_gets_the_english_form(opened):
    _token, page = opened("en")
    html = page.get_data(as_text=True)
    assert '<html lang="en">' in html and "How likely are you to recommend us?" in html
    assert "Submit" in html and "0 = Not at all likely" in html


def test_a_good_submit_redirects_to_thanks_and_the_link_then_says_answered(http, opened, survey_ctx):
    token, page = opened("en")
    submitted = http.post(f"/s/{token}", data=good_form(page))
    assert submitted.status_code == 303
    assert submitted.headers["Location"].endswith(f"/s/{token}/thanks")
    thanks = http.get(f"/s/{token}/thanks")
    assert thanks.status_code == 200 and "Thank you for your feedback" in thanks.get_data(as_text=True)
    again = http.get(f"/s/{token}")
    assert again.status_code == 410
    assert "already been answered" in again.get_data(as_text=True)
    assert http.post(f"/s/{token}", data=good_form(page)).status_code == 410
    assert stored_responses(survey_ctx) == 1
    data = outbox(survey_ctx, "survey.response.submitted")[0]["data"]
    assert (data["nps"], data["csat"], data["ces"], data["comment"]) == (9, 4, 6, "很好 good")


def test_a_missing_required_answer_is_shown_inline_and_the_other_answers_are_kept(http, opened, survey_ctx):
    token, page = opened("zh-CN")
    response = http.post(f"/s/{token}", data=good_form(page, satisfied="", comment="保留这段话"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'class="error-summary" role="alert"' in html
    assert 'id="q-satisfied-error"' in html and "请回答此题。" in html
    assert 'aria-describedby="q-satisfied-error"' in html
    assert "保留这段话</textarea>" in html
    assert re.search(r'name="recommend" value="9"\s+checked', html)
    assert re.search(r'name="improve" value="speed"\s+checked', html)
    assert re.search(r'name="improve" value="communication"\s+checked', html)
    assert not re.search(r'name="improve" value="price"\s+checked', html)
    assert stored_responses(survey_ctx) == 0
    fixed = http.post(f"/s/{token}", data=good_form(page))
    assert fixed.status_code == 303


def test_tampered_values_are_errors_not_crashes(http, opened, survey_ctx):
    token, page = opened("en")
    response = http.post(f"/s/{token}", data=good_form(page, recommend="11", value="best",
                                                      improve=["nope"], quality=["1", "2"],
                                                      comment="x" * 5001))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Choose a number from 0 to 10." in html and "Choose one of the options." in html
    assert "Choose only from the options listed." in html
    assert "Your answer can be at most 5000 characters." in html
    assert stored_responses(survey_ctx) == 0


def test_a_submit_without_a_valid_form_token_is_refused_and_keeps_the_answers(http, opened, survey_ctx):
    token, page = opened("en")
    for bad in ({}, {"_form": "forged"}, {"_form": form_token(opened("en")[1])}):
        form = {**good_form(page), **bad}
        if not bad:
            form.pop("_form")
        response = http.post(f"/s/{token}", data=form)
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert "This page had expired" in html and "  很好 good  </textarea>" in html
    assert stored_responses(survey_ctx) == 0


def test_hostile_text_is_shown_as_text(http, staff, opened):
    hostile = {"zh-CN": HOSTILE, "en": HOSTILE}
    questions = [{"key": "q", "type": "single_choice", "text": hostile, "required": True,
                  "options": [{"key": "a", "label": hostile}, {"key": "b", "label": {"zh-CN": "b", "en": "b"}}]},
                 {"key": "t", "type": "text", "text": hostile}]
    token, page = opened("en", title=hostile, intro=hostile, questions=questions)
    html = page.get_data(as_text=True)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    retyped = http.post(f"/s/{token}", data={"_form": form_token(page), "t": HOSTILE})
    assert retyped.status_code == 422
    assert "<script>" not in retyped.get_data(as_text=True)


def test_unknown_links_are_a_404_page_in_the_visitors_language(http):
    page = http.get("/s/" + "B" * 43, headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "We could not find this survey link" in page.get_data(as_text=True)
    chinese = http.get("/s/nope", headers={"Accept-Language": "zh-CN"})
    assert chinese.status_code == 404 and "找不到此问卷链接" in chinese.get_data(as_text=True)
    deeper = http.get("/s/a/b/c")
    assert deeper.status_code == 404 and deeper.mimetype == "text/html"
    assert http.get(f"/s/{'B' * 43}/thanks").status_code == 404


def test_gone_pages_say_what_happened_and_nothing_about_the_client(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    item = invite(http, staff, survey["id"], learn_client(survey_ctx, language="zh-CN",
                                                          name="秘密客户"))
    http.post(f"/api/v1/invitations/{item['id']}/revoke", headers=staff)
    page = http.get(f"/s/{token_of(item['url'])}")
    html = page.get_data(as_text=True)
    assert page.status_code == 410 and "此问卷链接已被撤回。" in html
    assert "秘密客户" not in html and survey["title"]["zh-CN"] not in html
    thanks = http.get(f"/s/{token_of(item['url'])}/thanks")
    assert thanks.status_code == 410


def test_an_unanswered_link_has_no_thanks_page_yet(http, opened):
    token, _page = opened("en")
    response = http.get(f"/s/{token}/thanks")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/s/{token}")


def test_the_stylesheet_is_served_without_a_token(http, opened):
    _token, page = opened("en")
    href = re.search(r'href="([^"]+\.css)"', page.get_data(as_text=True)).group(1)
    css = http.get(href)
    assert css.status_code == 200 and "text/css" in css.content_type
    assert ".error-message" in css.get_data(as_text=True)


def test_wrong_methods_and_oversized_forms_on_pages_are_html(http, opened):
    token, _page = opened("en")
    assert http.put(f"/s/{token}").mimetype == "text/html"
    big = http.post(f"/s/{token}", data={"comment": "x" * 1_100_000})
    assert big.status_code == 413 and big.mimetype == "text/html"
