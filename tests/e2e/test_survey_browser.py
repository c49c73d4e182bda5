"""A client fills survey links in a real browser (headless Debian Chromium, Playwright).

The survey service runs under gunicorn over its SQLite database;
staff create the survey and invitations through the API, as they would.
"""
from __future__ import annotations

import pytest
import requests

from services.survey.app import build_context
from tests.conftest import auth, make_token
from tests.e2e.harness import ProcessSuite
from tests.survey.survey_support import HOSTILE, learn_client, survey_fields

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def server(settings, tmp_path):
    """The survey service under gunicorn (2 workers) on the embedded SQLite database, which the
    test also opens in-process to teach the service its clients."""
    configured = settings.with_overrides(ratelimit_public="1000 per minute")
    suite = ProcessSuite(tmp_path, broker_url=configured.broker_url, database_urls={},
                         extra_env={"CLIENTLOOP_RATELIMIT_PUBLIC": "1000 per minute"})
    try:
        url = suite.start("survey", workers=2, relay=False, consume=False)
        ctx = build_context(configured)
        yield ctx, url, auth(make_token(configured, "staff"))
        ctx.database.dispose()
    finally:
        suite.stop()


@pytest.fixture(scope="module")
def browser():
    import os

    from tests.conftest import REQUIRE
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if REQUIRE:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    yield page
    context.close()


def make_link(server, language: str, **overrides) -> str:
    ctx, url, staff = server
    survey = requests.post(f"{url}/api/v1/surveys", headers=staff, json=survey_fields(**overrides),
                           timeout=10).json()
    assert requests.post(f"{url}/api/v1/surveys/{survey['id']}/publish", headers=staff,
                         timeout=10).status_code == 200
    client_id = learn_client(ctx, language=language)
    created = requests.post(f"{url}/api/v1/surveys/{survey['id']}/invitations", headers=staff,
                            json={"client_id": client_id}, timeout=10)
    assert created.status_code == 201, created.text
    return created.json()["items"][0]["url"]


def fill_every_question(page, *, skip: str | None = None) -> None:
    """Answer each question type by clicking its labels, as a person would."""
    if skip != "recommend":
        page.click("label[for='q-recommend-9']")   # nps 9
    if skip != "satisfied":
        page.click("label[for='q-satisfied-3']")   # csat 4
    page.click("label[for='q-effort-5']")          # ces 6
    page.click("label[for='q-quality-3']")         # rating 4
    page.get_by_label(page.locator("label[for='q-value-2']").inner_text()).check()  # single choice
    page.check("#q-improve")                       # multi choice: first option
    page.check("#q-improve-2")                     # multi choice: third option
    page.fill("#q-comment", "交付很及时 — on time")


def api_answers(server) -> list[dict]:
    ctx, url, staff = server
    surveys = requests.get(f"{url}/api/v1/surveys", headers=staff, timeout=10).json()["items"]
    answers = []
    for survey in surveys:
        answers += [item["answers"] for item in requests.get(
            f"{url}/api/v1/surveys/{survey['id']}/responses", headers=staff, timeout=10).json()["items"]]
    return answers


def test_a_chinese_link_is_filled_submitted_thanked_and_then_answered(server, page):
    link = make_link(server, "zh-CN")
    page.goto(link)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("h1").inner_text() == "客户满意度调查"
    assert page.get_by_role("radiogroup", name="您有多大可能推荐我们？").is_visible()
    fill_every_question(page)
    page.click("button[type=submit]")
    page.wait_for_url("**/thanks")
    assert page.locator("h1").inner_text() == "感谢您的反馈"
    assert api_answers(server) == [{"recommend": 9, "satisfied": 4, "effort": 6, "quality": 4,
                                    "value": "good", "improve": ["speed", "communication"],
                                    "comment": "交付很及时 — on time"}]
    response = page.goto(link)
    assert response.status == 410
    assert "此问卷已通过该邀请提交" in page.locator("main").inner_text()


def test_an_english_link_shows_an_inline_error_keeps_answers_then_submits(server, page):
    link = make_link(server, "en")
    page.goto(link)
    assert page.locator("html").get_attribute("lang") == "en"
    fill_every_question(page, skip="satisfied")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#q-satisfied-error").inner_text().strip().endswith("Please answer this question.")
    assert page.get_by_role("alert").is_visible()
    assert page.locator("#q-recommend-9").is_checked() and page.locator("#q-quality-3").is_checked()
    assert page.locator("#q-improve").is_checked() and page.locator("#q-improve-2").is_checked()
    assert not page.locator("#q-improve-1").is_checked()
    assert page.locator("#q-comment").input_value() == "交付很及时 — on time"
    assert api_answers(server) == []
    page.click("label[for='q-satisfied-4']")
    page.click("button[type=submit]")
    page.wait_for_url("**/thanks")
    assert page.locator("h1").inner_text() == "Thank you for your feedback"
    assert api_answers(server)[0]["satisfied"] == 5
    page.goto(link)
    assert "already been answered" in page.locator("main").inner_text()


def test_hostile_text_is_shown_as_text_and_never_runs(server, page):
    hostile = {"zh-CN": HOSTILE, "en": HOSTILE}
    questions = [{"key": "pick", "type": "single_choice", "text": hostile, "required": True,
                  "options": [{"key": "a", "label": hostile}, {"key": "b", "label": {"zh-CN": "b", "en": "b"}}]},
                 {"key": "note", "type": "text", "text": hostile}]
    link = make_link(server, "en", title=hostile, intro=hostile, questions=questions)
    page.goto(link)
    assert page.locator("h1").inner_text() == HOSTILE
    assert page.locator("legend").first.inner_text().startswith(HOSTILE)
    assert page.locator("label[for='q-pick']").inner_text() == HOSTILE
    page.fill("#q-note", HOSTILE)
    page.click("button[type=submit]")  # "pick" is required: the form comes back with the text
    page.wait_for_load_state()
    assert page.locator("#q-note").input_value() == HOSTILE
    page.click("label[for='q-pick']")
    page.click("button[type=submit]")
    page.wait_for_url("**/thanks")
    assert page.dialogs == []
    assert api_answers(server)[0] == {"pick": "a", "note": HOSTILE}


def test_an_unknown_link_shows_a_page_that_reveals_nothing(server, page):
    _ctx, url, _staff = server
    response = page.goto(f"{url}/s/{'Z' * 43}")
    assert response.status == 404
    assert page.locator("h1").is_visible()
