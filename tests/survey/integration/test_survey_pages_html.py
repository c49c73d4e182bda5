"""Every page the survey service serves is valid HTML (html5lib's parser reports no error; no
duplicate id; every label, description and link names an element; every control has a label)
and names the organisation that asks: the form for every question type in both languages, its
error re-renders, the thank-you page, and each page shown instead of a form (404, 410, 429, 503,
405, 413). The organisation's name, logo and contact are escaped like any other text.
"""
from __future__ import annotations

import pytest

from services.survey.app import build_context, create_app
from shared.config import Settings
from shared.migrations import upgrade
from tests.conftest import TEST_SECRET, auth, make_token
from tests.survey.html_check import assert_valid_html, html_problems
from tests.survey.integration.test_survey_form_pages import form_token, good_form
from tests.survey.survey_support import (EVERY_TYPE, HOSTILE, active_survey, invite, learn_client,
                                         survey_fields, token_of)

LANGUAGES = ("zh-CN", "en")
#: EVERY_TYPE's questions, each required, plus a 10-point rating: every combination of
#: attributes a question's markup can take.
REQUIRED_EVERYWHERE = [{**question, "required": True} for question in EVERY_TYPE["questions"]] + [
    {"key": "ten", "type": "rating", "scale": 10, "text": {"zh-CN": "十分制", "en": "Out of ten"}}]
WRONG_EVERYWHERE = {"recommend": "11", "satisfied": "x", "effort": "0", "quality": ["1", "2"],
                    "value": "best", "improve": ["nope"], "comment": "x" * 5001, "ten": "99"}


def link(http, staff, ctx, language: str, **overrides) -> tuple[str, dict]:
    survey = active_survey(http, staff, **overrides)
    item = invite(http, staff, survey["id"], learn_client(ctx, language=language))
    return token_of(item["url"]), item


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("questions", [EVERY_TYPE["questions"], REQUIRED_EVERYWHERE],
                         ids=["as-defined", "all-required"])
def test_the_form_and_its_error_pages_are_valid_html(http, staff, survey_ctx, language, questions):
    token, _item = link(http, staff, survey_ctx, language, questions=questions)
    page = http.get(f"/s/{token}")
    assert page.status_code == 200
    html = assert_valid_html(page)
    assert html.count("<fieldset") == len(questions) - 1  # the text question has a label
    unanswered = http.post(f"/s/{token}", data={"_form": form_token(page)})
    assert unanswered.status_code == 422
    assert_valid_html(unanswered)
    wrong = http.post(f"/s/{token}", data={"_form": form_token(page), **WRONG_EVERYWHERE})
    assert wrong.status_code == 422
    html = assert_valid_html(wrong)
    assert html.count('class="error-message"') == len(questions)  # every question wrong
    expired = http.post(f"/s/{token}", data={**good_form(page), "_form": "forged"})
    assert expired.status_code == 400
    assert_valid_html(expired)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_thank_you_page_is_valid_html_and_says_what_happens_next(
        http, staff, survey_ctx, language):
    token, _item = link(http, staff, survey_ctx, language)
    page = http.get(f"/s/{token}")
    assert http.post(f"/s/{token}", data=good_form(page)).status_code == 303
    thanks = http.get(f"/s/{token}/thanks")
    html = assert_valid_html(thanks)
    org = "客户反馈团队" if language == "zh-CN" else "Customer Feedback Team"
    next_step = ("回答将交给客户反馈团队，对方可能会就您的回答与您联系。" if language == "zh-CN"
                 else "They go to Customer Feedback Team, who may contact you about them.")
    assert next_step in html and f'<p class="org-name">{org}</p>' in html
    answered = http.get(f"/s/{token}")
    assert answered.status_code == 410 and next_step in assert_valid_html(answered)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_link_unavailable_page_is_valid_html_and_names_the_organisation(
        http, staff, survey_ctx, clock, language):
    staff = auth(make_token(survey_ctx.settings, "staff", days=10))
    org = "客户反馈团队" if language == "zh-CN" else "Customer Feedback Team"
    pages = {}
    browser = {"Accept-Language": language}
    open_token, _item = link(http, staff, survey_ctx, language)
    pages["wrong method"] = http.put(f"/s/{open_token}", headers=browser)
    pages["too large"] = http.post(f"/s/{open_token}", headers=browser,
                                   data={"comment": "x" * 1_100_000})
    revoked_token, item = link(http, staff, survey_ctx, language)
    http.post(f"/api/v1/invitations/{item['id']}/revoke", headers=staff)
    pages["revoked"] = http.get(f"/s/{revoked_token}")
    closed_token, item = link(http, staff, survey_ctx, language)
    http.post(f"/api/v1/surveys/{item['survey_id']}/close", headers=staff)
    pages["closed"] = http.get(f"/s/{closed_token}")
    expired_token, _item = link(http, staff, survey_ctx, language)
    clock.advance(days=31)
    pages["expired"] = http.get(f"/s/{expired_token}")
    pages["unknown"] = http.get("/s/" + "B" * 43, headers=browser)
    pages["not a link"] = http.get("/s/a/b/c", headers=browser)
    statuses = {name: page.status_code for name, page in pages.items()}
    assert statuses == {"revoked": 410, "closed": 410, "expired": 410, "unknown": 404,
                        "not a link": 404, "wrong method": 405, "too large": 413}
    for name, page in pages.items():
        html = assert_valid_html(page)
        assert f'<p class="org-name">{org}</p>' in html, name
        assert f'<html lang="{language}">' in html, name


def test_the_rate_limit_page_is_valid_html(settings, tmp_path):
    limited = settings.with_overrides(ratelimit_public="1 per minute")
    upgrade("survey", limited.database_url("survey"))
    ctx = build_context(limited)
    try:
        http = create_app(context=ctx).test_client()
        http.get("/s/" + "B" * 43)
        page = http.get("/s/" + "B" * 43, headers={"Accept-Language": "en"})
        assert page.status_code == 429
        assert "Customer Feedback Team" in assert_valid_html(page)
    finally:
        ctx.extras["delivery_worker"].stop()
        ctx.database.dispose()


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_database_unreachable_page_is_valid_html(settings, language):
    """The survey database on a port nobody listens on: the link's page is a 503."""
    down = settings.with_overrides(database_urls={
        **settings.database_urls, "survey": "postgresql://postgres@127.0.0.1:9/nowhere"})
    ctx = build_context(down)
    try:
        page = create_app(context=ctx).test_client().get(
            "/s/" + "B" * 43, headers={"Accept-Language": language})
        assert page.status_code == 503 and page.headers["Retry-After"]
        assert 'class="org-name"' in assert_valid_html(page)
    finally:
        ctx.extras["delivery_worker"].stop()
        ctx.database.dispose()


# -- the organisation, configured ------------------------------------------------------------
ORG_ENV = {"CLIENTLOOP_ORG_NAME": f"  Acme {HOSTILE} & \"Partners\"  ",
           "CLIENTLOOP_ORG_LOGO_URL": "https://cdn.acme.example:8443/brand/logo.svg?v=2&x='y'",
           "CLIENTLOOP_ORG_CONTACT": "help@acme.example · 400-800-1234 <b>24h</b>"}


@pytest.fixture
def org_http(tmp_path):
    settings = Settings.from_env(ORG_ENV, data_dir=tmp_path / "org", secret_key=TEST_SECRET)
    upgrade("survey", settings.database_url("survey"))
    ctx = build_context(settings.with_overrides(ratelimit_public="1000 per minute"))
    yield create_app(context=ctx).test_client(), ctx, auth(make_token(settings, "staff"))
    ctx.extras["delivery_worker"].stop()
    ctx.database.dispose()


def test_the_organisation_is_shown_escaped_on_every_page(org_http):
    http, ctx, staff = org_http
    name = "Acme &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;Partners&#34;"
    contact = "help@acme.example · 400-800-1234 &lt;b&gt;24h&lt;/b&gt;"
    logo = 'src="https://cdn.acme.example:8443/brand/logo.svg?v=2&amp;x=&#39;y&#39;"'
    for language, asks in (("en", f"Questions? Contact {name}: {contact}"),
                           ("zh-CN", f"如有疑问，请联系{name}：{contact}")):
        token, _item = link(http, staff, ctx, language)
        form = http.get(f"/s/{token}")
        assert http.post(f"/s/{token}", data=good_form(form)).status_code == 303
        for page in (form, http.get(f"/s/{token}/thanks"), http.get(f"/s/{token}"),
                     http.get("/s/" + "B" * 43, headers={"Accept-Language": language})):
            html = assert_valid_html(page)
            assert f'<p class="org-name">{name}</p>' in html
            assert logo in html and asks in html
            assert "<script>" not in html and "<b>" not in html
            assert page.headers["Content-Security-Policy"].count("img-src 'self' "
                                                                 "https://cdn.acme.example:8443;") == 1


def test_the_checker_finds_what_it_should():
    good = ('<!doctype html><html lang="en"><head><title>t</title></head><body><h1>h</h1>'
            '<label for="a">A</label><input id="a" name="a"></body></html>')
    assert html_problems(good) == []
    for broken, found in (
            (good.replace('id="a" name', 'id="a"name'), "unexpected-character-after-attribute-value"),
            (good.replace("<!doctype html>", ""), "doctype"),
            (good.replace("<h1>h</h1>", '<h1 id="a">h</h1>'), "duplicate id 'a'"),
            (good.replace('for="a"', 'for="b"'), "names no element"),
            (good.replace('<input id="a"', '<input id="a" aria-describedby="zz"'), "names no element"),
            (good.replace('<label for="a">A</label>', ""), "has no label"),
            (good.replace('<html lang="en">', "<html>"), "no lang"),
            (good.replace("</body>", "</div></body>"), "end-tag-too-early"),
            (good.replace("<h1>h</h1>", "<h1>h</h1><p><div></p>"), "unexpected-end-tag"),
            (good.replace("<h1>h</h1>", ""), "<h1>")):
        assert any(found in problem for problem in html_problems(broken)), (broken, found)


def test_survey_texts_with_markup_keep_the_page_valid(http, staff, survey_ctx):
    hostile = {"zh-CN": HOSTILE + '"><i id="q-x">', "en": HOSTILE + '"><i id="q-x">'}
    questions = [{"key": "x", "type": "single_choice", "text": hostile, "required": True,
                  "options": [{"key": "a", "label": hostile}, {"key": "b", "label": hostile}]},
                 {"key": "t", "type": "text", "text": hostile}]
    token, _item = link(http, staff, survey_ctx, "en",
                        **{key: value for key, value in survey_fields(
                            title=hostile, intro=hostile, questions=questions).items()
                           if key in ("title", "intro", "questions")})
    page = http.get(f"/s/{token}")
    assert_valid_html(page)
    assert_valid_html(http.post(f"/s/{token}", data={"_form": form_token(page), "t": HOSTILE}))
