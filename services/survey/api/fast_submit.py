"""The public submit's answer without the framework, when nothing about the request is unusual.

``POST /api/v1/public/responses`` carries the suite's heaviest load: every client answering a
link. Most of those requests are ordinary — a JSON body with a token and answers, an open link,
valid answers — and for those the full Flask stack (routing, hooks, webargs and marshmallow,
the ORM session) costs several times the work itself. :class:`FastSubmit` wraps the survey
app's WSGI callable and answers such a request directly, through the same domain code and the
same statements as the view (``services.survey.service.submit_on``), with the same access line,
metrics, request id, rate limit and answer body.

Anything else goes to the Flask view unchanged, which answers it as it always has: a query
string, an ``Idempotency-Key``, a body that is not plain JSON of ``{"token", "answers"}``, a
link that is unknown, used, revoked, expired or closed, invalid answers, a rate limit reached,
a database that fails. Those paths write nothing before handing over (the transaction is rolled
back), and a request handed over is not counted twice by the rate limit.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterable

from flask import Flask

from services.survey import submission
from shared.bus.outbox import notify_channel, outbox_written
from shared.bus.wake import waker
from shared.clock import isoformat_z
from shared.config import web_threads
from shared.web import metrics
from shared.web.fast import (HandOver, OnFirstUse, answer, give_back_body, read_json_body,
                             request_id)

PATH = "/api/v1/public/responses"
#: Set on a request handed to the Flask view after the rate limit already counted it here.
COUNTED = "clientloop.survey.ratelimit_counted"


class FastSubmit:
    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        from services.survey import service
        self.wsgi_app = wsgi_app
        self._flask = app
        self._service = service
        self._ctx = app.extensions["clientloop"]
        self._limiter = app.extensions["survey_limiter"]
        self._limits = _parse_limits(self._ctx.settings.ratelimit_public)
        self._observe = metrics.observer(app)
        self._drivers = OnFirstUse(self._connections)
        self._waker = None   # made in the worker, with its driver connections

        @self._limiter.request_filter
        def _already_counted() -> bool:
            from flask import request
            return bool(request.environ.get(COUNTED))

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if (environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != PATH
                or environ.get("QUERY_STRING") or "HTTP_IDEMPOTENCY_KEY" in environ):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        raw = read_json_body(environ, self._ctx.settings.max_body_bytes)
        if raw is None:
            return self.wsgi_app(environ, start_response)
        try:
            body = self._submit(environ, raw)
        except HandOver:
            give_back_body(environ, raw)
            return self.wsgi_app(environ, start_response)
        return answer(start_response, self._observe, status=201, reason="CREATED", method="POST",
                      path=PATH, body=body, headers=[("Content-Type", "application/json")],
                      started=started, request=request_id(environ), by=None)

    def _submit(self, environ: dict, raw: bytes) -> bytes:
        fields = _plain_submit(environ, raw)
        address = environ.get("REMOTE_ADDR") or "127.0.0.1"
        if not self._count(address):
            raise HandOver()          # over the limit: the view answers 429 (counted there)
        environ[COUNTED] = True
        ctx = self._ctx
        rules = ctx.extras["rules"]
        try:
            with self._transaction() as connection:
                stored = self._service.submit_on(connection, fields["token"], fields["answers"],
                                                 now=ctx.clock(), rules=rules)
        except Exception as exc:          # noqa: BLE001 - the view answers every refusal
            raise HandOver() from exc
        self._wake()
        return json.dumps({"id": stored.id, "survey_id": stored.survey_id,
                           "score": None if stored.score is None else float(stored.score),
                           "submitted_at": isoformat_z(stored.submitted_at)},
                          ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    def _transaction(self):
        """A driver connection of the worker's own (``shared.driver_db``), one kept for each of
        its threads, in autocommit: on PostgreSQL the write is one atomic statement (no
        ``BEGIN``/``COMMIT`` round trips, no ping — a connection the server dropped fails the
        request over to the view, which gets a fresh one, and is not kept); on SQLite the
        invitation is read outside any transaction and the four writes are one statement
        (``submission.driver_connections``)."""
        return self._drivers.get().connect()

    def _connections(self):
        database = self._ctx.database
        drivers = submission.driver_connections(database, keep=web_threads())
        database.on_dispose(drivers.dispose)
        return drivers

    def _wake(self) -> None:
        """The relay: on PostgreSQL the relay process (through this process's waker, looked up
        once), else the in-process one (embedded)."""
        drivers = self._drivers.get()
        if drivers.dialect.name == "postgresql":
            if self._waker is None:
                self._waker = waker(drivers.url, notify_channel(self._service.SERVICE))
            self._waker.poke()
        else:
            outbox_written.set()

    def _count(self, address: str) -> bool:
        """One hit on each public limit for ``address``, as the Flask limiter counts them
        (``False``: a limit is reached, or the store could not be asked)."""
        from services.survey.app import PUBLIC_SCOPE, RATE_LIMIT_PREFIX
        strategy = self._limiter.limiter
        key = [RATE_LIMIT_PREFIX, address, PUBLIC_SCOPE]
        try:
            if not all(strategy.test(item, *key) for item in self._limits):
                return False
            return all([strategy.hit(item, *key) for item in self._limits])
        except Exception:  # noqa: BLE001 - the view's limiter falls back to its own store
            return False


def _parse_limits(text: str) -> list:
    from limits import parse_many
    return list(parse_many(text))


def _plain_submit(environ: dict, raw: bytes) -> dict[str, Any]:
    """``{"token": str, "answers": {…}}`` and nothing else, parsed the way the view's input
    checks parse it; anything unusual is handed over."""
    from shared.web.body import find_unstorable_text, may_hold_unstorable, parse_json
    try:
        body = parse_json(raw)
        if (not isinstance(body, dict) or body.keys() != {"token", "answers"}
                or not isinstance(body["token"], str) or not isinstance(body["answers"], dict)):
            raise HandOver()
        errors: dict[str, list[str]] = {}
        if may_hold_unstorable(raw):
            find_unstorable_text(body, errors)
    except HandOver:
        raise
    except Exception as exc:  # noqa: BLE001 - bad JSON, too deep: the view's 400
        raise HandOver() from exc
    if errors or not 0 < len(body["token"]) <= 200:
        raise HandOver()
    return body
