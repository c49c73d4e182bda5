"""A support agent's complaint work in Chromium, in Chinese, with plain forms: the queue
shows a complaint opened through the API → open it → acknowledge → assign → start → resolve
with a root cause. Every complaints page has no serious or critical axe-core violation, in
both languages; an analyst finds no action buttons."""
from __future__ import annotations

import threading

import pytest
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server

from tests.complaints.complaints_helpers import register_client
from tests.conftest import make_token
from tests.support.console import DESKTOP, PHONE, axe_check, new_browser, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    with new_browser() as chromium:
        yield chromium


@pytest.fixture
def site(complaints_app):
    """The complaints service at ``/complaints`` on a local port, as embedded."""
    server = make_server("127.0.0.1", 0, DispatcherMiddleware(NotFound(), {
        "/complaints": complaints_app}), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/complaints"
    server.shutdown()


def signed_in_page(browser, site, token, *, language="zh-CN", device=DESKTOP):
    # The pages carry no script (their CSP allows none from elsewhere); JavaScript stays on
    # only for axe-core, which the test injects.
    context = browser.new_context(locale=language, **device)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, site, token)
    return page


def no_browser_checks(page) -> None:
    """Let the forms submit what the browser would stop (``required``): the server's answer."""
    page.evaluate("document.querySelectorAll('form').forEach(form => form.noValidate = true)")


def click(page, name: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=name, exact=True).click()


def test_an_agents_day_in_chinese(browser, site, api, settings):
    complaint = api.opened(title="发票重复扣款 Invoice charged twice", severity="high")
    page = signed_in_page(browser, site, make_token(settings, "staff", "王芳"))

    page.goto(f"{site}/console/")
    assert page.locator("h1").inner_text() == "投诉队列"
    row = page.locator("tbody tr").filter(has_text=complaint["ref"])
    assert row.locator(".countdown").inner_text() == "剩余 4 小时"
    assert axe_check(page) == [], "queue"
    with page.expect_navigation():
        row.get_by_role("link", name=complaint["ref"]).click()
    assert axe_check(page) == [], "complaint, new"

    click(page, "确认受理")
    assert page.get_by_role("status").filter(has_text="“确认受理”已完成。").count() == 1
    page.get_by_label("负责人").first.fill("王芳")
    click(page, "分派")
    click(page, "开始处理")
    assert axe_check(page) == [], "complaint, in progress"
    page.get_by_label("解决方式").select_option("refund")
    page.get_by_label("根本原因").fill("账单重复运行 Duplicate billing run")
    page.get_by_label("摘要").fill("已退还重复扣款。")
    click(page, "解决")

    assert page.locator("#complaint-status").inner_text() == "已解决"
    assert axe_check(page) == [], "complaint, resolved"
    stored = api.read(complaint["id"])
    assert (stored["status"], stored["assignee"], stored["root_cause"]) == (
        "resolved", "王芳", "账单重复运行 Duplicate billing run")
    assert [entry["action"] for entry in stored["timeline"]] == [
        "open", "acknowledge", "assign", "start", "resolve"]
    page.context.close()


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("device", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_page_passes_axe_in_both_languages(browser, site, api, settings, complaints_ctx,
                                                 language, device):
    register_client(complaints_ctx, name="Acme Trading", tier="A")
    complaint = api.in_status("in_progress")
    api.in_status("resolved")
    api.in_status("awaiting_client", severity="critical")
    page = signed_in_page(browser, site, make_token(settings, "staff"), language=language,
                          device=device)
    complaint_page = f"{site}/console/complaints/{complaint['id']}"
    for path in ("/console/", "/console/?severity=urgent", f"/console/complaints/{complaint['id']}",
                 "/console/new?client_q=acme", "/console/analysis?from=2025-01-01&to=2025-03-31"):
        page.goto(site + path)
        assert page.locator("html").get_attribute("lang") == language
        assert axe_check(page) == [], path

    page.goto(complaint_page)  # the forms with their errors and the triage preview
    no_browser_checks(page)
    click(page, "解决" if language == "zh-CN" else "Resolve")
    assert page.locator(".error-summary").count() == 1
    assert axe_check(page) == [], "resolve refused"
    page.goto(complaint_page)
    page.locator("#field-triage-severity").select_option("critical")
    click(page, "预览截止时间" if language == "zh-CN" else "Preview the deadlines")
    assert axe_check(page) == [], "triage preview"
    page.goto(f"{site}/console/new")
    no_browser_checks(page)
    click(page, "登记投诉" if language == "zh-CN" else "Open complaint")
    assert page.locator(".error-summary").count() == 1
    assert axe_check(page) == [], "new complaint refused"
    page.context.close()


def test_an_analyst_finds_no_action_buttons(browser, site, api, settings):
    complaint = api.in_status("in_progress")
    page = signed_in_page(browser, site, make_token(settings, "analyst"))

    page.goto(f"{site}/console/complaints/{complaint['id']}")

    assert page.locator("h1").inner_text().startswith(complaint["ref"])
    for name in ("分派", "升级", "等待客户", "解决", "添加备注", "保存更正"):
        assert page.get_by_role("button", name=name, exact=True).count() == 0
    assert page.locator("main form").count() == 0
    page.goto(f"{site}/console/")
    assert page.get_by_role("link", name="新建投诉").count() == 0
    assert axe_check(page) == [], "queue, analyst"
    page.context.close()
