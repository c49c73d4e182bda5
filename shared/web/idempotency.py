"""``Idempotency-Key`` on creates: the same key and body again returns the first answer.

Scoped to the token's name and the route, kept ``idempotency_hours`` (24 by default). The key is
reserved in its own short transaction before the view runs, so two concurrent requests with the
same key never both create: the second gets 409 while the first is in flight, and the stored
answer afterwards. The same key with another body is a 422. Only successful answers are kept: a
request refused for bad input can be corrected and sent again with the same key.
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

from shared.errors import Conflict, ValidationFailed

HEADER = "Idempotency-Key"
KEPT_HEADERS = ("Location", "ETag", "Content-Type")


def _request_hash() -> str:
    raw = request.get_data(cache=True) or b""
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = raw
    return hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n" + canonical).hexdigest()


BodyTransform = Callable[[Any], Any]


def idempotent(view):
    """The ``Idempotency-Key`` contract on a create view; the answer is kept as sent."""
    return idempotent_with()(view)


def idempotent_with(*, store: BodyTransform | None = None, replay: BodyTransform | None = None):
    """``idempotent`` for answers that must not be kept as sent (they carry secrets).

    ``store(body)`` gives the JSON body to keep; ``replay(kept_body)`` rebuilds the answer
    for a repeated request.
    """
    return lambda view: _idempotent(view, store, replay)


def _idempotent(view, store: BodyTransform | None, replay: BodyTransform | None):
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
            return session.execute(select(table).where(table.c.scope == scope, table.c.key == key)).first()

        with ctx.database.transaction() as session:
            row = lookup(session)
            if row is not None and row.created_at is not None and _aware(row.created_at) < kept_since:
                session.execute(delete(table).where(table.c.id == row.id))
                row = None
            if row is None:
                try:
                    with session.begin_nested():
                        session.execute(insert(table).values(scope=scope, key=key, request_hash=digest,
                                                             created_at=now))
                except IntegrityError:
                    row = lookup(session)
        if row is not None:
            return _replay(row, digest, replay)

        try:
            response = current_app.make_response(view(*args, **kwargs))
        except Exception:
            _forget(ctx, table, scope, key)
            raise
        if response.status_code >= 400:
            _forget(ctx, table, scope, key)
            return response
        headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
        body = response.get_data(as_text=True)
        if store is not None:
            body = json.dumps(store(json.loads(body)), ensure_ascii=False)
        with ctx.database.transaction() as session:
            session.execute(update(table).where(table.c.scope == scope, table.c.key == key).values(
                status_code=response.status_code, response_body=body,
                response_headers=json.dumps(headers)))
        return response

    return wrapper


def _aware(moment):
    from shared.clock import as_utc
    return as_utc(moment)


def _forget(ctx, table, scope, key) -> None:
    with ctx.database.transaction() as session:
        session.execute(delete(table).where(table.c.scope == scope, table.c.key == key))


def _replay(row, digest: str, rebuild: BodyTransform | None) -> Response:
    if row.request_hash != digest:
        raise ValidationFailed({HEADER: ["This key was used with a different request body."]},
                               detail="Idempotency-Key reused with a different request.")
    if row.status_code is None:
        raise Conflict("A request with this Idempotency-Key is still being processed; retry shortly.")
    body = row.response_body
    if rebuild is not None:
        body = json.dumps(rebuild(json.loads(body)), ensure_ascii=False)
    response = Response(body, status=row.status_code, mimetype="application/json")
    for name, value in json.loads(row.response_headers or "{}").items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response
