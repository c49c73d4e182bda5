"""Helpers for tests of the staff console, in a browser (Playwright) or with Flask's client.

    with new_browser() as browser:                       # Debian's chromium, no network
        page = browser.new_page(locale="zh-CN")
        sign_in(page, base_url, token)                   # base_url: "http://host:port/registry"
        page.goto(base_url + "/console/")
        assert axe_check(page) == []                     # serious/critical violations only

    client = console_client(app, token)                  # a Flask test client, signed in
    client.post("/console/…", data={"csrf_token": csrf(client, "/console/…"), …})

axe-core is the file vendored from the npm registry by ``scripts/vendor-axe``
(``tests/support/vendor/axe.min.js``); nothing is loaded from the network.
"""
from __future__ import annotations

import html
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
DESKTOP = {"viewport": {"width": 1366, "height": 768}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
SERIOUS = ("serious", "critical")
_CSRF = re.compile(r'name="csrf_token"\s+value="([^"]*)"')


def need_chromium() -> None:
    from tests.conftest import REQUIRE
    if os.path.exists(CHROMIUM):
        return
    message = f"{CHROMIUM} is missing (apt-get install chromium)"
    if REQUIRE:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@contextmanager
def new_browser() -> Iterator["object"]:
    """Chromium (Playwright's sync API), closed on exit; skips the test without chromium."""
    need_chromium()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page, base_url: str, token: str, *, next_path: str | None = None) -> None:
    """Sign ``page`` in at ``<base_url>/console/sign-in`` (``base_url`` is a service's URL,
    e.g. ``http://127.0.0.1:8000/registry``) by pasting ``token``; fails if it was refused."""
    url = base_url.rstrip("/") + "/console/sign-in"
    if next_path:
        from urllib.parse import quote
        url += "?next=" + quote(next_path, safe="/")
    page.goto(url)
    page.fill('input[name="token"]', token)
    with page.expect_navigation():
        page.locator('form[action$="/console/sign-in"] button[type="submit"]').click()
    if "/console/sign-in" in page.url.split("?")[0]:
        raise AssertionError(f"sign-in refused: {page.locator('main').inner_text()}")


def axe_check(page, *, rules: dict | None = None) -> list[dict]:
    """The serious and critical axe-core violations of the page as shown now: each
    ``{"id", "impact", "help", "nodes": [html snippets]}``; ``[]`` when there are none."""
    if not AXE.exists():
        raise AssertionError(f"{AXE} is missing: run scripts/vendor-axe")
    # Injected through the DevTools protocol, not a <script>: the console's CSP allows none.
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    options = {"resultTypes": ["violations"]}
    if rules:
        options["rules"] = rules
    result = page.evaluate("async (options) => await axe.run(document, options)", options)
    return [{"id": violation["id"], "impact": violation["impact"], "help": violation["help"],
             "nodes": [node["html"] for node in violation["nodes"]][:5]}
            for violation in result["violations"] if violation["impact"] in SERIOUS]


# -- Flask's test client -------------------------------------------------------------------
def csrf(client, path: str) -> str:
    """The CSRF token of the page at ``path`` (the first ``csrf_token`` field on it)."""
    response = client.get(path)
    match = _CSRF.search(response.get_data(as_text=True))
    if match is None:
        raise AssertionError(f"no csrf_token field on {path} ({response.status_code})")
    return html.unescape(match.group(1))


def console_client(app, token: str, *, language: str | None = None):
    """A test client of ``app`` signed in with ``token`` (its session cookie set), optionally
    with the language cookie set (``"en"`` or ``"zh-CN"``)."""
    client = app.test_client()
    response = client.post("/console/sign-in", data={"token": token})
    if response.status_code != 303:
        raise AssertionError(f"sign-in refused ({response.status_code}): "
                             f"{response.get_data(as_text=True)[:500]}")
    if language:
        client.set_cookie("clientloop_lang", language, path="/")
    return client
