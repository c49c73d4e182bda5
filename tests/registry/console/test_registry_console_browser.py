"""The registry's console pages in a real browser (headless Debian Chromium, Playwright) with the
demo data: signed in, in both languages, axe-core finds no serious or critical violation, and a
client with hostile text in its fields runs no script."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from werkzeug.serving import make_server

from services.registry.app import create_app, load_demo
from tests.registry.conftest import deliver, register
from tests.registry.console.console_support import HOSTILE
from tests.support.console import DESKTOP, PHONE, axe_check, new_browser, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def served(registry_ctx, bus, clock):
    """The registry with the demo portfolio and one client whose records have moved."""
    load_demo(registry_ctx)
    client = register(registry_ctx, HOSTILE[0], owner=HOSTILE[1], tags=[HOSTILE[0]],
                      contacts=[{"name": HOSTILE[1], "email": "x@example.com"}],
                      power=4, interest=5, annual_value={"amount": "300000.00", "currency": "CNY"})
    deliver(registry_ctx, bus.survey(client.id, 85, at=clock.now - timedelta(days=20)),
            bus.opened(client.id, "high", ref="CMP-000001", at=clock.now - timedelta(days=10)),
            bus.opened(client.id, "low", ref="CMP-000002", at=clock.now - timedelta(days=5)),
            bus.resolved(client.id, "high", ref="CMP-000001", within_sla=False,
                         at=clock.now - timedelta(days=2)),
            bus.survey(client.id, 40, at=clock.now - timedelta(days=1)))
    server = make_server("127.0.0.1", 0, create_app(context=registry_ctx), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", client.id
    finally:
        server.shutdown()


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_pages_pass_axe_in_both_languages_and_run_no_hostile_script(served, tokens, language):
    url, client_id = served
    with new_browser() as browser:
        for viewport in (DESKTOP, PHONE):
            context = browser.new_context(locale=language, **viewport)
            page = context.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            sign_in(page, url, tokens["admin"])
            found = {}
            for path in ("/console/", f"/console/clients/{client_id}",
                         f"/console/clients/{client_id}/edit", "/console/portfolio"):
                page.goto(url + path)
                assert page.locator("html").get_attribute("lang") == language
                found[path] = axe_check(page)
            assert found == {path: [] for path in found}, found
            assert dialogs == []
            context.close()


def test_a_staff_member_registers_a_client_and_logs_a_call_without_javascript(served, tokens):
    url, _client_id = served
    with new_browser() as browser:
        context = browser.new_context(locale="en", java_script_enabled=False, **DESKTOP)
        page = context.new_page()
        sign_in(page, url, tokens["staff"])
        page.goto(url + "/console/")
        with page.expect_navigation():
            page.get_by_role("link", name="New client").first.click()
        page.get_by_label("Name (required)").fill("Zephyr 有限公司")
        page.get_by_label("Kind (required)").select_option("external")
        page.get_by_label("Category (required)").select_option("government")
        with page.expect_navigation():
            page.get_by_role("button", name="Register client").click()
        assert page.locator(".flash-success").inner_text() == "Client Zephyr 有限公司 registered."
        page.get_by_label("Channel (required)").last.select_option("phone")
        page.get_by_label("Summary (required)").fill("Introduced the project team.")
        with page.expect_navigation():
            page.get_by_role("button", name="Log interaction").click()
        assert page.locator(".flash-success").inner_text() == "Interaction logged."
        assert page.get_by_text("Introduced the project team.").is_visible()
        page.goto(url + "/console/?q=zephyr")
        assert page.locator("table.data tbody tr").count() == 1
        context.close()
