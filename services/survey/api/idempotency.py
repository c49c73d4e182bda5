"""``Idempotency-Key`` for answers that carry survey links.

The platform's ``@idempotent`` stores the first answer and replays it byte for byte. An answer
with link tokens cannot be stored like that: only a token's hash is ever kept. So here the
stored answer has its ``url`` fields removed, and a replay issues a fresh link for every
invitation still open (``url`` is ``null`` for one answered, revoked, expired or closed since),
like a resend: the earlier links keep working, nothing else is created.

Everything else is the platform's contract (``shared.web.idempotency``).
"""
from __future__ import annotations

from typing import Any, Callable

from shared.web.idempotency import idempotent_with

Relink = Callable[[dict[str, Any]], dict[str, Any]]


def without_urls(body: dict[str, Any]) -> dict[str, Any]:
    if "items" in body:
        return {**body, "items": [{k: v for k, v in item.items() if k != "url"}
                                  for item in body["items"]]}
    return {k: v for k, v in body.items() if k != "url"}


def idempotent_links(relink: Relink):
    """``relink(stored_body) -> body`` puts fresh links into a stored (url-less) answer."""
    return idempotent_with(store=without_urls, replay=relink)
