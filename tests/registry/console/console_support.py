"""Helpers for the registry console's tests: hostile strings, forms posted with the page's
CSRF token, and the part of a page the registry renders."""
from __future__ import annotations

import re

from tests.support.console import csrf

HOSTILE = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')


def post(client, path: str, data: dict | None = None, *, page: str = "/console/"):
    """POST ``data`` to ``path`` with the session's CSRF token (read from ``page``)."""
    return client.post(path, data={"csrf_token": csrf(client, page), **(data or {})})


def text_of(response) -> str:
    return response.get_data(as_text=True)


def main_of(response) -> str:
    """The page's ``<main>`` (what the registry's templates render)."""
    html = text_of(response)
    found = re.search(r"<main\b.*?</main>", html, re.DOTALL)
    assert found, html[:500]
    return found.group(0)
