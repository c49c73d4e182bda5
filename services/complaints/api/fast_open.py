"""Opening a complaint answered without the framework, when nothing about the request is unusual.

``POST /api/v1/complaints`` is the complaints service's busiest write: every complaint support
staff (or a connected system) takes in. Most of those requests are ordinary — a JSON body of
the opening's fields, a staff token, a client the service knows — and for those the full Flask
stack (routing, hooks, webargs, the ORM session and its transaction) costs more than the work
itself. :class:`FastOpen` wraps the complaints app's WSGI callable on PostgreSQL and answers
such a request directly: the token checked as the API checks it (signature, expiry, the
revocation list, a role that may write), the body checked by the same schema, the same domain
code (``service.prepare_opening`` and ``service.write_opening``: two statements outside a
transaction, the second one atomic and the only write), the same answer body and headers
(``Location``, ``ETag``), the same access line, metrics and request id.

Anything else goes to the Flask view unchanged, which answers it as it always has: a query
string, an ``Idempotency-Key``, a body that is not plain JSON of the opening's fields, a missing,
invalid, revoked or read-only token, invalid fields, a client that is unknown or erased, a
directory entry that changed between the two statements, a statement the database refused.
Those paths write nothing before handing over. A write whose outcome is unknown (the connection
lost while it ran: it may have been committed) is not handed over to be opened again; the app
answers it as the failure it met (503 with ``Retry-After``), as the view answers a commit whose
answer was lost.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable

import marshmallow as ma
from flask import Flask

from shared.auth import Principal
from shared.bus.outbox import outbox_written
from shared.config import web_threads
from shared.driver_db import DriverConnections
from shared.web import metrics
from shared.web.body import find_unstorable_text, parse_json
from shared.web.fast import (HandOver, OnFirstUse, answer, give_back_body, in_front_of_app,
                             read_json_body, request_id)
from shared.web.security import bearer_principal
from shared.web.versioning import etag

PATH = "/api/v1/complaints"
#: Set on a request handed to the app after its write failed in a way that leaves the outcome
#: unknown (the exception): the app answers it with that failure instead of opening it again.
UNKNOWN_OUTCOME = "clientloop.complaints.unknown_outcome"


class FastOpen:
    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        from services.complaints import service
        from services.complaints.api import complaints
        from services.complaints.api.schemas import ComplaintInSchema
        self.wsgi_app = wsgi_app
        self._flask = app
        self._service = service
        self._views = complaints
        self._schema = ComplaintInSchema()
        self._fields = frozenset(self._schema.fields)
        self._ctx = app.extensions["clientloop"]
        self._observe = metrics.observer(app)
        self._drivers = OnFirstUse(self._connections)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if (environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != PATH
                or environ.get("QUERY_STRING") or "HTTP_IDEMPOTENCY_KEY" in environ):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        script_root = (environ.get("SCRIPT_NAME") or "").rstrip("/")
        if not script_root.isascii():   # the view decodes it for Location
            return self.wsgi_app(environ, start_response)
        raw = read_json_body(environ, self._ctx.settings.max_body_bytes)
        if raw is None:
            return self.wsgi_app(environ, start_response)
        try:
            principal = self._principal(environ)
            changed = self._open(raw, principal, environ)
        except HandOver:
            give_back_body(environ, raw)
            return self.wsgi_app(environ, start_response)
        # Written: from here on nothing hands over (the view would open it a second time).
        outbox_written.set()   # an in-process relay, if any (the statement notified the others)
        complaint = changed.complaint
        view = self._views.opened_view(changed, principal.name, self._ctx.clock(),
                                       self._ctx.extras["rules"])
        body = self._flask.json.response(self._views.dump(view))
        return answer(start_response, self._observe, status=201, reason="CREATED",
                      method="POST", path=PATH, body=body.get_data(),
                      headers=[("Content-Type", body.content_type),
                               ("Location", f"{script_root}{PATH}/{complaint.id}"),
                               ("ETag", etag(complaint.version))],
                      started=started, request=request_id(environ), by=principal.name)

    def _principal(self, environ: dict) -> Principal:
        """The caller, as ``shared.web.security.authenticate`` would let them write; anything it
        would refuse (401, 403), or could not decide, is the view's to answer."""
        try:
            principal = bearer_principal(self._flask, environ.get("HTTP_AUTHORIZATION", ""))
        except Exception as exc:  # noqa: BLE001 - missing, invalid, revoked, list unreadable
            raise HandOver() from exc
        if not principal.can_write():
            raise HandOver()
        return principal

    def _open(self, raw: bytes, principal: Principal, environ: dict):
        fields = self._plain_opening(raw)
        ctx = self._ctx
        with self._drivers.get().connect() as connection:
            try:
                opening = self._service.prepare_opening(
                    connection, fields, by=principal.name, now=ctx.clock(),
                    rules=ctx.extras["rules"])
            except Exception as exc:  # noqa: BLE001 - a read failed: nothing was written
                raise HandOver() from exc
            if opening is None:
                raise HandOver()
            try:
                changed = self._service.write_opening(connection, opening)
            except Exception as exc:  # noqa: BLE001 - sorted below
                if not _refused(exc, connection):
                    # The write may have been committed with its answer lost: the view must
                    # not open it again. It answers as for any outage (503, Retry-After).
                    environ[UNKNOWN_OUTCOME] = exc
                raise HandOver() from exc
        if changed is None:
            raise HandOver()
        return changed

    def _plain_opening(self, raw: bytes) -> dict[str, Any]:
        """The opening's fields, as the view's schema loads them, from a JSON object of those
        fields only, with storable text; anything else is handed over."""
        try:
            body = parse_json(raw)
            if not isinstance(body, dict) or not body.keys() <= self._fields:
                raise HandOver()
            errors: dict[str, list[str]] = {}
            find_unstorable_text(body, errors)
            if errors:
                raise HandOver()
            # The schema's own checks only: the view adds the use case's messages to a refusal.
            return ma.Schema.load(self._schema, body)
        except HandOver:
            raise
        except Exception as exc:  # noqa: BLE001 - bad JSON, too deep, invalid: the view's 400/422
            raise HandOver() from exc

    def _connections(self) -> DriverConnections:
        database = self._ctx.database
        drivers = DriverConnections(database.url, keep=web_threads())
        database.on_dispose(drivers.dispose)
        return drivers


def _refused(error: Exception, connection) -> bool:
    """The server refused the statement, so it wrote nothing: it reported an error of its own
    (a SQLSTATE) and the connection still works. Otherwise — the connection lost, say — the
    statement may have been committed before its answer was lost."""
    original = getattr(error, "orig", error)
    return getattr(original, "sqlstate", None) is not None and not connection.broken


def _answer_unknown_outcomes(app: Flask) -> None:
    """A request whose write may or may not have been committed (``UNKNOWN_OUTCOME``) is handed
    to the app only to be answered as the failure it met (503 with ``Retry-After`` for an
    outage), with the app's request id, access line and metrics — never opened again."""
    from flask import request

    @app.before_request
    def _unknown_outcome():
        failure = request.environ.get(UNKNOWN_OUTCOME)
        if failure is not None:
            raise failure


def install(app: Flask) -> None:
    """Answer ordinary openings directly (PostgreSQL only), inside the proxy headers' fix when
    there is one, so it sees the request as the app does."""
    if app.extensions["clientloop"].database.dialect != "postgresql":
        return
    _answer_unknown_outcomes(app)
    in_front_of_app(app, FastOpen)

