"""The survey console in Chromium, in English and in Chinese: list → build a survey → publish →
invite a client and copy the link → the client answers it in another browser context → the
results and responses show the answer. axe-core finds no serious or critical violation on any
page on the way (tests/support/console.py)."""
from __future__ import annotations

import threading

import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server

from services.survey.app import build_context, create_app
from shared.migrations import upgrade
from tests.conftest import make_token
from tests.support.console import DESKTOP, PHONE, axe_check, new_browser, sign_in
from tests.survey.survey_support import learn_client

pytestmark = pytest.mark.browser

CLIENT_NAME = 'Acme 华为 <script>alert(1)</script>"><img src=x onerror=alert(1)>'
#: The page's own words in each language (buttons and headings the walk looks for).
WORDS = {
    "en": {"new": "New survey", "add": "Add question", "save": "Save draft",
           "publish": "Publish", "invite": "Invite clients", "search": "Search",
           "send": "Invite", "results": "Results", "responses": "Responses", "up": "Move up",
           "invitations": "Invitations"},
    "zh-CN": {"new": "新建问卷", "add": "添加题目", "save": "保存草稿", "publish": "发布",
              "invite": "邀请客户", "search": "搜索", "send": "邀请", "results": "结果",
              "responses": "回答", "up": "上移", "invitations": "邀请"},
}


@pytest.fixture
def served(settings, tmp_path):
    """The survey service on a real port under ``/survey``, as the embedded suite serves it."""
    configured = settings.with_overrides(ratelimit_public="1000 per minute")
    upgrade("survey", configured.database_url("survey"))
    ctx = build_context(configured)
    app = create_app(context=ctx)
    site = DispatcherMiddleware(lambda environ, start: (start("404 Not Found", []), [b""])[1],
                                {"/survey": app})
    server = make_server("127.0.0.1", 0, site, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ctx, f"http://127.0.0.1:{server.server_port}/survey"
    finally:
        server.shutdown()
        ctx.extras["delivery_worker"].stop()
        ctx.database.dispose()


def no_violations(page, where: str) -> None:
    violations = axe_check(page)
    assert violations == [], f"{where} ({page.url}): {violations}"


def press(page, name: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=name, exact=True).first.click()


def follow(link) -> None:
    """Click a link and wait until the page it leads to has loaded."""
    with link.page.expect_navigation():
        link.click()


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_a_survey_is_built_sent_answered_and_read_in_the_browser(served, settings, language):
    ctx, base = served
    words = WORDS[language]
    client_id = learn_client(ctx, name=CLIENT_NAME, language=language)
    staff = make_token(settings, "staff", name="王芳")
    alerts: list[str] = []
    with new_browser() as browser:
        staff_context = browser.new_context(locale=language, **DESKTOP)
        page = staff_context.new_page()
        page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
        sign_in(page, base, staff)

        page.goto(base + "/console/")
        assert page.locator("html").get_attribute("lang") == language
        no_violations(page, "the survey list")

        # Build: titles, an NPS question and a single choice with scores, reorder, save.
        follow(page.get_by_role("link", name=words["new"]))
        no_violations(page, "a new survey")
        page.fill("#field-title\\.zh-CN", "浏览器问卷")
        page.fill("#field-title\\.en", "Browser survey")
        page.select_option("#field-new_type", "single_choice")
        press(page, words["add"])
        page.select_option("#field-new_type", "nps")
        press(page, words["add"])
        for index, (zh, en) in enumerate([("您更喜欢哪个？", "Which do you prefer?"),
                                          ("您有多大可能推荐我们？", "How likely are you to recommend us?")]):
            page.fill(f"#field-questions\\.{index}\\.text\\.zh-CN", zh)
            page.fill(f"#field-questions\\.{index}\\.text\\.en", en)
        for number, (zh, en, score) in enumerate([("甲", "Alpha", "0"), ("乙", "Beta", "100")]):
            option = f"#field-questions\\.0\\.options\\.{number}"
            page.fill(f"{option}\\.label\\.zh-CN", zh)
            page.fill(f"{option}\\.label\\.en", en)
            page.fill(f"{option}\\.score", score)
        press(page, words["save"])
        assert "/console/surveys/" in page.url
        no_violations(page, "the builder")
        with page.expect_navigation():
            page.locator('button[value="up.1"]').click()
        assert page.locator("#field-questions\\.0\\.text\\.en").input_value() == \
            "How likely are you to recommend us?"
        # An error: the summary names it, the field keeps what was typed.
        page.fill("#field-title\\.en", "")
        press(page, words["save"])
        assert page.locator(".error-summary").is_visible()
        no_violations(page, "the builder with an error")
        page.fill("#field-title\\.en", "Browser survey")
        press(page, words["save"])
        press(page, words["publish"])
        no_violations(page, "the published survey")
        survey_url = page.url.split("#")[0]
        page.goto(survey_url + "/preview?language=" + language)
        assert page.locator("button.submit").is_disabled()
        no_violations(page, "the preview")
        page.goto(survey_url)

        # Invite the client: search, tick, invite, copy the link shown once.
        follow(page.get_by_role("link", name=words["invite"]).first)
        page.fill("#field-q", "Acme")
        press(page, words["search"])
        no_violations(page, "the invite page")
        page.locator(f'input[name="client_ids"][value="{client_id}"]').check()
        press(page, words["send"])
        no_violations(page, "the links page")
        link_field = page.locator("input.copy-link").first
        link_field.click()
        page.keyboard.press("Control+A")
        selected = page.evaluate("() => { const f = document.activeElement;"
                                 " return f.value.substring(f.selectionStart, f.selectionEnd); }")
        link = link_field.input_value()
        assert selected == link and "/survey/s/" in link
        assert CLIENT_NAME in page.locator("main table").inner_text()  # the name, as text
        assert page.locator("main img").count() == 0

        # The client answers in a browser context of their own (no console session).
        client_context = browser.new_context(locale=language, **PHONE)
        client_page = client_context.new_page()
        client_page.goto(link)
        client_page.click("label[for='q-nps-9']")
        client_page.locator("#q-single_choice-1").check()
        with client_page.expect_navigation():
            client_page.locator("button.submit").click()
        assert client_page.url.endswith("/thanks")
        client_context.close()

        # The invitation is listed, answered.
        follow(page.get_by_role("link", name=words["invitations"], exact=True).first)
        assert page.locator(".badge.state-answered").count() == 1
        no_violations(page, "the invitations")

        # The results and responses show the answer.
        follow(page.get_by_role("link", name=words["results"]).first)
        assert page.locator("dl.metrics dd").first.inner_text() == "1"
        assert page.locator("img.chart").count() == 1
        no_violations(page, "the results")
        follow(page.get_by_role("link", name=words["responses"], exact=True).first)
        answers = page.locator("dl.answers").inner_text()
        assert ("Beta" if language == "en" else "乙") in answers and "9" in answers
        no_violations(page, "the responses")
        page.goto(base + "/console/")
        no_violations(page, "the survey list with a survey")
        survey_path = survey_url.split("/survey", 1)[1]
        staff_context.close()

        # On a phone, the same pages (tables stacked or scrolled) have no violation either.
        phone = browser.new_context(locale=language, **PHONE).new_page()
        sign_in(phone, base, staff)
        for path in ("/console/", survey_path, survey_path + "/invitations",
                     survey_path + "/results", survey_path + "/responses"):
            phone.goto(base + path)
            no_violations(phone, "on a phone")
    assert alerts == []
