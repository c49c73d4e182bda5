"""``Idempotency-Key`` for answers that carry survey links.

The platform's ``@idempotent`` stores the first answer and replays it byte for byte. An answer
with link tokens cannot be stored like that: only a token's hash is ever kept. So the stored
answer has its ``url`` fields removed, and a replay answers exactly what the first request
answered (status, ids, states, ``expires_at``, ``language``, ``ETag``, …) with ``"url": null``
and a ``Links-Withheld`` header saying why: a link is shown once, in the first answer. A replay
creates nothing — no invitation, no link, no event. A new link for an open invitation is what
``POST /api/v1/invitations/{id}/resend`` (with a new key) is for.

Everything else is the platform's contract (``shared.web.idempotency``).
"""
from __future__ import annotations

import functools
from typing import Any

from flask import current_app

from shared.web.idempotency import idempotent_with

LINKS_WITHHELD = "Links-Withheld"
LINKS_WITHHELD_REASON = "url is shown only in the first answer; resend for a new link"


def without_urls(body: dict[str, Any]) -> dict[str, Any]:
    """The answer to keep: every ``url`` field removed."""
    if "items" in body:
        return {**body, "items": [{k: v for k, v in item.items() if k != "url"}
                                  for item in body["items"]]}
    return {k: v for k, v in body.items() if k != "url"}


def urls_withheld(body: dict[str, Any]) -> dict[str, Any]:
    """The replayed answer: the kept one with ``"url": null`` where the first had a link."""
    if "items" in body:
        return {**body, "items": [{**item, "url": None} for item in body["items"]]}
    return {**body, "url": None}


def idempotent_links(view):
    """``Idempotency-Key`` on a view whose answer shows links once; a replay creates none."""
    replaying = idempotent_with(store=without_urls, replay=urls_withheld)(view)

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        response = current_app.make_response(replaying(*args, **kwargs))
        if response.headers.get("Idempotent-Replayed") == "true":
            response.headers[LINKS_WITHHELD] = LINKS_WITHHELD_REASON
        return response

    return wrapper
