"""The shared console pages in Chromium: sign in by pasting a token, switch the language with
the navigation bar's button, sign out (plain forms: the pages have no script); no serious or
critical axe-core violation on the sign-in and error pages in either language, on a desktop and
a phone."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from shared.embedded import wsgi
from shared.migrations import upgrade
from shared.runtime import available_services
from tests.conftest import make_token
from tests.support.console import DESKTOP, PHONE, axe_check, new_browser, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    with new_browser() as chromium:
        yield chromium


@pytest.fixture
def site(settings):
    for service in available_services():
        upgrade(service, settings.database_url(service))
    server = make_server("127.0.0.1", 0, wsgi(settings), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.parametrize("device", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_sign_in_switch_language_and_sign_out(browser, site, settings, device):
    context = browser.new_context(locale="zh-CN", **device)
    context.set_default_timeout(15_000)
    page = context.new_page()
    scripts: list[str] = []
    page.on("request", lambda request: scripts.append(request.url)
            if request.resource_type == "script" else None)
    page.goto(f"{site}/registry/console/")
    assert "/registry/console/sign-in" in page.url
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator('input[name="token"]').get_attribute("type") == "password"
    assert axe_check(page) == [], "sign-in, zh-CN"

    sign_in(page, f"{site}/registry", make_token(settings, "staff", "王芳"))
    assert page.url == f"{site}/registry/console/"
    assert page.get_by_role("status").filter(has_text="王芳").count() == 1   # the flash

    page.goto(f"{site}/registry/console/no/such/page")
    assert page.locator("h1").inner_text() == "页面不存在"
    assert axe_check(page) == [], "404, zh-CN"

    with page.expect_navigation():
        page.get_by_role("button", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Page not found"
    assert axe_check(page) == [], "404, en"
    with page.expect_navigation():
        page.get_by_role("link", name="Complaints").click()                  # remembered everywhere
    assert page.url == f"{site}/complaints/console/"
    assert page.locator("html").get_attribute("lang") == "en"

    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert "/complaints/console/sign-in" in page.url
    assert axe_check(page) == [], "sign-in, en"
    page.goto(f"{site}/survey/console/")
    assert "/survey/console/sign-in" in page.url                          # signed out everywhere
    assert scripts == []
    context.close()
