"""The interactive API reference in a real browser (headless Debian Chromium, Playwright):
every operation shows, nothing is fetched from another site, and the page's content security
policy lets Swagger UI run (no console error).
"""
from __future__ import annotations

import os
import threading

import pytest
from werkzeug.serving import make_server

from shared.migrations import upgrade
from shared.runtime import available_services, service_module
from tests.conftest import REQUIRE

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if REQUIRE:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()


@pytest.fixture(params=available_services())
def served(request, settings):
    name = request.param
    upgrade(name, settings.database_url(name))
    module = service_module(name)
    ctx = module.build_context(settings)
    server = make_server("127.0.0.1", 0, module.create_app(context=ctx), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield name, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        ctx.database.dispose()


def test_the_reference_shows_every_operation_from_the_service_alone(browser, served):
    name, url = served
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: problems.append(message.text)
            if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        page.goto(f"{url}/docs")
        page.wait_for_selector(".opblock", timeout=20_000)
        document = page.evaluate("fetch('/openapi.json').then(r => r.json())")
        operations = sum(1 for item in document["paths"].values()
                         for method in item if method in ("get", "post", "put", "patch", "delete"))
        assert page.locator(".opblock").count() == operations
        assert page.locator(".opblock-summary-path").first.inner_text().startswith("/")
        assert not problems, problems
        outside = [address for address in requested if not address.startswith(url)]
        assert not outside, outside
    finally:
        page.close()
