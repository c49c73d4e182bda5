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

ORG_NAME = "Acme <b>咨询</b> & Co"
ORG_CONTACT = "service@acme.example · +86 10 1234 5678 <script>alert(1)</script>"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def serve_survey(settings, tmp_path, **env: str):
    """The survey service under gunicorn (2 workers) on the embedded SQLite database, which the
    test also opens in-process to teach the service its clients."""
    configured = settings.with_overrides(ratelimit_public="1000 per minute")
    suite = ProcessSuite(tmp_path, broker_url=configured.broker_url, database_urls={},
                         extra_env={"CLIENTLOOP_RATELIMIT_PUBLIC": "1000 per minute", **env})
    try:
        url = suite.start("survey", workers=2, relay=False, consume=False)
        ctx = build_context(configured)
        yield ctx, url, auth(make_token(configured, "staff"))
        ctx.database.dispose()
    finally:
        suite.stop()


@pytest.fixture
def server(settings, tmp_path):
    yield from serve_survey(settings, tmp_path)


@pytest.fixture
def org_server(settings, tmp_path):
    """The same, for an organisation that names itself, its logo (a path on the site) and a
    contact line with characters that must be escaped."""
    yield from serve_survey(settings, tmp_path, CLIENTLOOP_ORG_NAME=ORG_NAME,
                            CLIENTLOOP_ORG_LOGO_URL="/brand/logo.png?v=1&size=2",
                            CLIENTLOOP_ORG_CONTACT=ORG_CONTACT)


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


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1366, "height": 768}}


@pytest.fixture
def page(browser):
    context = browser.new_context(**PHONE)
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


# -- layout: scales in one row (or balanced rows), anchors under the ends, no sideways scroll --
MEASURE = """() => {
  const box = (element) => {
    const r = element.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width,
            height: r.height, overflows: element.scrollWidth > element.clientWidth + 1};
  };
  const one = (root, selector) => { const e = root.querySelector(selector); return e && box(e); };
  return {
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    scales: [...document.querySelectorAll("fieldset")]
      .filter((set) => set.querySelector(".choices.scale"))
      .map((set) => ({
        key: set.querySelector("input").name,
        buttons: [...set.querySelectorAll(".choices.scale label")].map(box),
        low: one(set, ".anchor-low"), high: one(set, ".anchor-high")})),
  };
}"""


def rows_of(buttons: list[dict]) -> list[list[dict]]:
    """The buttons grouped by the row they sit on (same top, to the pixel)."""
    rows: dict[int, list[dict]] = {}
    for button in buttons:
        rows.setdefault(round(button["top"]), []).append(button)
    return [rows[top] for top in sorted(rows)]


def check_layout(layout: dict, *, one_row: set[str]) -> None:
    assert layout["scrollWidth"] <= layout["clientWidth"], "the page scrolls sideways"
    for scale in layout["scales"]:
        key, buttons = scale["key"], scale["buttons"]
        rows = rows_of(buttons)
        sizes = [len(row) for row in rows]
        if key in one_row:
            assert sizes == [len(buttons)], f"{key}: rows of {sizes}, not one row"
        else:
            assert max(sizes) - min(sizes) <= 0, f"{key}: unbalanced rows {sizes}"
        widths = {round(button["width"]) for button in buttons}
        assert max(widths) - min(widths) <= 1, f"{key}: buttons of unequal widths {widths}"
        for button in buttons:
            assert button["width"] >= 24 and button["height"] >= 44, f"{key}: {button} too small"
            assert not button["overflows"], f"{key}: a label's text overflows its button"
            assert button["right"] <= layout["clientWidth"], f"{key}: a button is off screen"
        if scale["low"] is not None:
            low, high, first, last = scale["low"], scale["high"], buttons[0], buttons[-1]
            bottom = max(button["bottom"] for button in buttons)
            assert low["top"] >= bottom and high["top"] >= bottom, f"{key}: anchors not under"
            assert abs(low["left"] - first["left"]) <= 1, f"{key}: {low} not under {first}"
            assert abs(high["right"] - last["right"]) <= 1, f"{key}: {high} not under {last}"
            assert low["right"] <= high["left"], f"{key}: anchors overlap"


@pytest.mark.parametrize("device", [PHONE, DESKTOP], ids=["390x844", "1366x768"])
def test_scales_keep_one_row_or_balanced_rows_with_the_anchors_under_the_ends(
        server, browser, device):
    questions = [*survey_fields()["questions"][:4],
                 {"key": "ten", "type": "rating", "scale": 10,
                  "text": {"zh-CN": "十分制打分", "en": "Out of ten"}},
                 {"key": "three", "type": "rating", "scale": 3,
                  "text": {"zh-CN": "三分制打分", "en": "Out of three"}}]
    phone = device is PHONE
    context = browser.new_context(**device)
    try:
        page = context.new_page()
        for language in ("en", "zh-CN"):
            link = make_link(server, language, questions=questions)
            page.goto(link)
            layout = page.evaluate(MEASURE)
            assert [scale["key"] for scale in layout["scales"]] == [
                "recommend", "satisfied", "effort", "quality", "ten", "three"]
            scales = {"recommend", "effort", "quality", "ten", "three"}
            check_layout(layout, one_row=scales if phone else scales | {"satisfied"})
            [csat] = [scale for scale in layout["scales"] if scale["key"] == "satisfied"]
            if phone:  # one full-width button per row, each with its words
                assert [len(row) for row in rows_of(csat["buttons"])] == [1] * 5
            # An error shown in the scale's fieldset changes nothing of the above.
            page.click("button[type=submit]")
            page.wait_for_load_state()
            assert page.locator("#q-satisfied-error").is_visible()
            check_layout(page.evaluate(MEASURE),
                         one_row=scales if phone else scales | {"satisfied"})
    finally:
        context.close()


def test_every_page_names_the_organisation_and_how_to_reach_it(org_server, page):
    link = make_link(org_server, "en")
    _ctx, url, _staff = org_server
    page.goto(link)
    assert page.locator("header .org-name").inner_text() == ORG_NAME
    assert page.locator("header img.org-logo").get_attribute("src") == "/brand/logo.png?v=1&size=2"
    footer = page.locator("footer").inner_text()
    assert footer == f"Questions? Contact {ORG_NAME}: {ORG_CONTACT}"
    assert page.dialogs == []
    fill_every_question(page)
    page.click("button[type=submit]")
    page.wait_for_url("**/thanks")
    main = page.locator("main").inner_text()
    assert f"They go to {ORG_NAME}, who may contact you about them." in main
    assert "you can close this page" in main
    assert page.locator("footer").inner_text() == footer
    answered = page.goto(link)
    assert answered.status == 410 and page.locator("header .org-name").inner_text() == ORG_NAME
    missing = page.goto(f"{url}/s/{'Z' * 43}")
    assert missing.status == 404 and page.locator("footer").inner_text() == footer
    assert page.evaluate("document.documentElement.scrollWidth <= "
                         "document.documentElement.clientWidth")
    assert page.dialogs == []
