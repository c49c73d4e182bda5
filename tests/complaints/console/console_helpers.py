"""Helpers for the complaints console tests: forms posted as a browser would, pages read."""
from __future__ import annotations

import re
from typing import Any

from tests.support.console import csrf

HOSTILE = ('<script>alert(1)</script>', '"><img src=x onerror=alert(1)>')
"""Strings a staff member or client may type; every page must show them as text."""
ESCAPED = ('&lt;script&gt;alert(1)&lt;/script&gt;',
           '&#34;&gt;&lt;img src=x onerror=alert(1)&gt;')
"""The same, as they must appear in the HTML (Jinja escapes ``"`` as ``&#34;``)."""


def page_path(complaint_id: str) -> str:
    return f"/console/complaints/{complaint_id}"


def post_form(client, page: str, action: str, data: dict[str, Any], *,
              follow: bool = False):
    """POST ``data`` to ``action`` with the CSRF token of ``page`` (where the form is)."""
    return client.post(action, data={"csrf_token": csrf(client, page), **data},
                       follow_redirects=follow)


def act(client, complaint: dict[str, Any], action: str, *, follow: bool = False,
        **fields: Any):
    """Submit the ``action`` form of a complaint's page (with its version)."""
    path = page_path(complaint["id"])
    data = {"action": action, "version": complaint["version"], **fields}
    return post_form(client, path, path + "/actions", data, follow=follow)


def text(response) -> str:
    return response.get_data(as_text=True)


def flashes(response) -> list[str]:
    """The flash messages of a page, as text."""
    return [re.sub(r"\s+", " ", message).strip() for message in re.findall(
        r'<div class="flash flash-\w+" role="\w+">(.*?)</div>', text(response), re.S)]


def buttons(response) -> list[str]:
    """The labels of the submit buttons of the page's workflow action forms."""
    html = text(response)
    labels = []
    for form in re.findall(r'<form[^>]*action="[^"]*/actions"[^>]*>(.*?)</form>', html, re.S):
        labels += [label.strip() for label in
                   re.findall(r'<button class="button[^"]*" type="submit">([^<]*)</button>', form)]
    return labels


def queue_refs(response) -> list[str]:
    return re.findall(r'<th scope="row"><a href="[^"]*">(CMP-\d+)</a></th>', text(response))
