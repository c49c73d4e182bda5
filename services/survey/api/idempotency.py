"""``Idempotency-Key`` for answers that carry survey links.

The platform's ``@idempotent`` stores the first answer and replays it byte for byte. An answer
with link tokens cannot be stored like that: only a token's hash is ever kept. So here the
stored answer has its ``url`` fields removed, and a replay issues a fresh link for every
invitation still open (``url`` is ``null`` for one answered, revoked, expired or closed since),
like a resend: the earlier links keep working, nothing else is created.

Everything else is the platform's contract: the same key with another body is a 422; a request
still in flight with the same key is a 409; only successful answers are kept; keys are scoped
to the token's name and the route and kept ``idempotency_hours``.
"""
from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta
from typing import Any, Callable

from flask import Response, current_app, g, request
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared.clock import as_utc
from shared.errors import Conflict, ValidationFailed
from shared.web.idempotency import HEADER

Relink = Callable[[dict[str, Any]], dict[str, Any]]


def _request_hash() -> str:
    raw = request.get_data(cache=True) or b""
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = raw
    return hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n"
                          + canonical).hexdigest()


def without_urls(body: dict[str, Any]) -> dict[str, Any]:
    if "items" in body:
        return {**body, "items": [{k: v for k, v in item.items() if k != "url"}
                                  for item in body["items"]]}
    return {k: v for k, v in body.items() if k != "url"}


def idempotent_links(relink: Relink):
    """``relink(stored_body) -> body`` puts fresh links into a stored (url-less) answer."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            key = request.headers.get(HEADER)
            if key is None:
                return view(*args, **kwargs)
            key = key.strip()
            if not key or len(key) > 200 or not key.isprintable():
                raise ValidationFailed({HEADER: ["Must be 1 to 200 printable characters."]})
            ctx = current_app.extensions["clientloop"]
            table = ctx.tables.idempotency_key
            principal = g.get("principal")
            scope = f"{principal.name if principal else '-'} {request.method} {request.url_rule.rule}"
            digest = _request_hash()
            now = ctx.clock()
            kept_since = now - timedelta(hours=ctx.settings.idempotency_hours)

            def lookup(session):
                return session.execute(select(table).where(table.c.scope == scope,
                                                           table.c.key == key)).first()

            with ctx.database.transaction() as session:
                row = lookup(session)
                if row is not None and as_utc(row.created_at) < kept_since:
                    session.execute(delete(table).where(table.c.id == row.id))
                    row = None
                if row is None:
                    try:
                        with session.begin_nested():
                            session.execute(insert(table).values(
                                scope=scope, key=key, request_hash=digest, created_at=now))
                    except IntegrityError:
                        row = lookup(session)
            if row is not None:
                return _replay(row, digest, relink)

            try:
                response = current_app.make_response(view(*args, **kwargs))
            except Exception:
                _forget(ctx, table, scope, key)
                raise
            if response.status_code >= 400:
                _forget(ctx, table, scope, key)
                return response
            stored = without_urls(json.loads(response.get_data(as_text=True)))
            headers = {name: response.headers[name] for name in ("Location", "ETag")
                       if name in response.headers}
            with ctx.database.transaction() as session:
                session.execute(update(table).where(table.c.scope == scope, table.c.key == key)
                                .values(status_code=response.status_code,
                                        response_body=json.dumps(stored, ensure_ascii=False),
                                        response_headers=json.dumps(headers)))
            return response

        return wrapper

    return decorate


def _forget(ctx, table, scope: str, key: str) -> None:
    with ctx.database.transaction() as session:
        session.execute(delete(table).where(table.c.scope == scope, table.c.key == key))


def _replay(row, digest: str, relink: Relink) -> Response:
    if row.request_hash != digest:
        raise ValidationFailed({HEADER: ["This key was used with a different request body."]},
                               detail="Idempotency-Key reused with a different request.")
    if row.status_code is None:
        raise Conflict("A request with this Idempotency-Key is still being processed; retry shortly.")
    body = relink(json.loads(row.response_body))
    response = current_app.response_class(json.dumps(body, ensure_ascii=False),
                                          status=row.status_code, mimetype="application/json")
    for name, value in json.loads(row.response_headers or "{}").items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response
