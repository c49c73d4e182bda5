"""``Idempotency-Key`` on creates: the same key and body again returns the first answer.

Scoped to the token's name and the route, kept ``idempotency_hours`` (24 by default). The key is
reserved in its own short transaction before the view runs, so two concurrent requests with the
same key never both create: the second gets 409 while the first is in flight, and the stored
answer afterwards. The same key with another body is a 422. Only successful answers are kept: a
request refused for bad input can be corrected and sent again with the same key.

A reservation without an answer is the first request still running, or a request that ended
without finishing. Which one, and whether its write committed, is known for certain: the
transaction that commits the view's write also sets the reservation's ``committed_at``
(``shared.web.reservation``). So a retry with the same key

* runs the view again when the first request is over and committed nothing: the failed request
  freed the key itself (or, if the database was away, as soon as it is back), or its
  reservation is older than the lease (:data:`LEASE_S`, the longest a request may run) — the
  retry takes it over, and the first request, should it still be running, can no longer commit;
* never runs it again once the write committed: it gets the stored answer, or, when that answer
  could not be stored, a 409 problem saying the first request succeeded (:class:`AnswerLost`).
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any, Callable

from flask import Response, current_app, g, request
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared.clock import as_utc
from shared.config import REQUEST_TIMEOUT_S
from shared.errors import Conflict, ValidationFailed
from shared.outages import dependency_unavailable
from shared.web import reservation as reservations
from shared.web.reservation import Reservation, later

log = logging.getLogger("clientloop.idempotency")

HEADER = "Idempotency-Key"
KEPT_HEADERS = ("Location", "ETag", "Content-Type")
#: Seconds a reservation without an answer holds its key: the longest a request may run.
LEASE_S = REQUEST_TIMEOUT_S


class StillInFlight(Conflict):
    """The first request with this key has not finished yet."""

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still being processed; "
                         "retry shortly.")
        self.retry_after = 1


class AnswerLost(Conflict):
    """The first request's write committed, but its answer could not be stored."""

    title = "Answer not stored"

    def __init__(self) -> None:
        super().__init__(
            "The first request with this Idempotency-Key succeeded, but its answer could not be "
            "stored, so it is not run again. Find what it created or changed by reading or "
            "listing the resources (for example filtered by name or client).",
            first_request="succeeded")


def request_digest(method: str, path: str, raw: bytes) -> str:
    """What makes two requests "the same": method, path and the body (JSON compared as data)."""
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = raw
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def init_idempotency(database) -> None:
    """Mark reservations in the transactions of ``database`` (once per database)."""
    reservations.install(database.sessions)


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
        principal = g.get("principal")
        scope = f"{principal.name if principal else '-'} {request.method} {request.url_rule.rule}"
        digest = request_digest(request.method, request.path, request.get_data(cache=True) or b"")
        reserved = _reserve(ctx, scope, key, digest)
        if not isinstance(reserved, Reservation):
            return _replay(reserved, digest, replay)
        reservations.hold(reserved)
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except Exception:
            reservations.release()  # before freeing the key: that is no write of the view's
            _forget(ctx, reserved)
            raise
        finally:
            reservations.release()
        if response.status_code >= 400 and not reserved.committed:
            _forget(ctx, reserved)
            return response
        _store(ctx, reserved, response, store)
        return response

    return wrapper


def _reserve(ctx, scope: str, key: str, digest: str):
    """A :class:`Reservation` of the key for this request, or the row another request holds."""
    table = ctx.tables.idempotency_key
    now = ctx.clock()

    def lookup(session):
        return session.execute(select(table).where(table.c.scope == scope,
                                                   table.c.key == key)).first()

    with ctx.database.transaction() as session:
        row = lookup(session)
        if row is not None and _expired(ctx, row, now):
            session.execute(delete(table).where(table.c.id == row.id))
            row = None
        if row is None:
            try:
                with session.begin_nested():
                    session.execute(insert(table).values(scope=scope, key=key,
                                                         request_hash=digest, created_at=now))
            except IntegrityError:
                return lookup(session)  # a concurrent request reserved it first
            row_id = lookup(session).id
        elif row.request_hash == digest and _abandoned(row, now):
            taken = session.execute(update(table).where(
                table.c.id == row.id, table.c.created_at == row.created_at,
                table.c.status_code.is_(None), table.c.committed_at.is_(None),
            ).values(created_at=now))
            if taken.rowcount != 1:
                return lookup(session)  # another retry took it over, or the first committed
            row_id = row.id
        else:
            return row
    return Reservation(table, row_id, now, ctx.database.engine, ctx.clock)


def _expired(ctx, row, now: datetime) -> bool:
    return row.created_at is not None and \
        as_utc(row.created_at) < now - timedelta(hours=ctx.settings.idempotency_hours)


def _abandoned(row, now: datetime) -> bool:
    """No answer, nothing committed, and reserved longer ago than any request may run."""
    return row.status_code is None and row.committed_at is None and \
        as_utc(row.created_at) < now - timedelta(seconds=LEASE_S)


def _forget(ctx, reserved: Reservation) -> None:
    """Free the key of a request that committed nothing, now or once the database is back."""
    table = reserved.table

    def forget() -> None:
        with ctx.database.transaction() as session:
            session.execute(delete(table).where(reserved.owned(), table.c.committed_at.is_(None)))

    _now_or_later("free the key", forget)


def _store(ctx, reserved: Reservation, response: Response, store: BodyTransform | None) -> None:
    """Keep the answer for replays, now or once the database is back."""
    headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
    body = response.get_data(as_text=True)
    if store is not None:
        body = json.dumps(store(json.loads(body)), ensure_ascii=False)
    table = reserved.table

    def keep() -> None:
        with ctx.database.transaction() as session:
            session.execute(update(table).where(reserved.owned()).values(
                status_code=response.status_code, response_body=body,
                response_headers=json.dumps(headers)))

    _now_or_later("store the answer", keep)


def _now_or_later(what: str, job: Callable[[], None]) -> None:
    """Run ``job``; if the database is unreachable, retry it in the background for a lease.

    Any other failure is logged, not raised: the request's own outcome stands (a committed
    write keeps its answer, a failed view its error)."""
    try:
        job()
    except Exception as error:  # noqa: BLE001 - sorted out just below
        if dependency_unavailable(error):
            later.add(what, job, deadline=time.monotonic() + LEASE_S)
        else:
            log.exception("idempotency key job failed", extra={"job": what})


def _replay(row, digest: str, rebuild: BodyTransform | None) -> Response:
    if row.request_hash != digest:
        raise ValidationFailed({HEADER: ["This key was used with a different request body."]},
                               detail="Idempotency-Key reused with a different request.")
    if row.status_code is None:
        raise AnswerLost() if row.committed_at is not None else StillInFlight()
    body = row.response_body
    if rebuild is not None:
        body = json.dumps(rebuild(json.loads(body)), ensure_ascii=False)
    response = Response(body, status=row.status_code, mimetype="application/json")
    for name, value in json.loads(row.response_headers or "{}").items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response
