"""The web composition shared by every service: ``create_service_app``.

It wires flask-smorest (OpenAPI at ``/openapi.json``) with problem-details errors, bearer-token
auth, request ids and JSON logs, ``/healthz``, ``/readyz``, ``/metrics``, the service's index
at ``/`` (``shared.web.index``) and, after the service's own, the webhooks blueprint
(``/api/v1/webhooks``, ``shared.web.webhooks``). Each service's ``create_app`` calls it with
its blueprints; nothing is built at import time.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable

from flask import Flask, g, request
from flask.json.provider import DefaultJSONProvider

from shared.clock import utcnow
from shared.config import Settings
from shared.db import Database, PlatformTables
from shared.web import body, health, ids, metrics, query, reference, security
from shared.web.fast import request_id
from shared.web.idempotency import init_idempotency
from shared.web.index import init_index
from shared.web.openapi import DocumentedRules
from shared.web.problems import ProblemApi


access_log = logging.getLogger("clientloop.access")


@dataclass
class ServiceContext:
    """What a request handler needs, kept on ``app.extensions["clientloop"]``."""

    service: str
    settings: Settings
    database: Database
    tables: PlatformTables
    clock: Callable[[], datetime] = utcnow
    extras: dict[str, Any] = field(default_factory=dict)


class JSONProvider(DefaultJSONProvider):
    ensure_ascii = False
    sort_keys = False


def create_service_app(ctx: ServiceContext, *, title: str, description: str,
                       blueprints: Iterable) -> Flask:
    app = Flask(f"clientloop.{ctx.service}")
    app.json_provider_class = JSONProvider
    app.json = JSONProvider(app)
    app.config.update(
        API_TITLE=title,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=ctx.settings.max_body_bytes,
        API_SPEC_OPTIONS={
            "info": {"description": description},
            "components": {"securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "clientloop token create --role ROLE --name NAME"}}},
            "security": [{"bearerAuth": []}],
        },
        SECRET_KEY=ctx.settings.secret_key,
    )
    app.extensions["clientloop"] = ctx
    init_idempotency(ctx.database)  # Idempotency-Key reservations marked with the write
    ids.init_ids(app)
    api = ProblemApi(app, spec_kwargs={"extra_plugins": [DocumentedRules(ctx.settings.currency)]})
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    from shared.web.webhooks import blp as webhooks_blp
    api.register_blueprint(webhooks_blp)  # /api/v1/webhooks: every service, admin only
    app.extensions["clientloop_api"] = api

    app.before_request(_request_id)
    app.before_request(security.authenticate)
    app.before_request(body.check_api_input)
    app.before_request(query.check_query_parameters)
    app.after_request(_echo_request_id)
    metrics.init_metrics(app, ctx.service)
    health.init_health(app, ctx)
    reference.init_reference(app, title=title)  # GET /docs: Swagger UI, served locally
    init_index(app, service=ctx.service, title=title, description=description)  # GET /
    if ctx.settings.proxy_hops:
        # Behind the gateway: trust its X-Forwarded-For/-Proto/-Host/-Prefix headers, so client
        # addresses (rate limits) and built URLs (Location, links) are the public ones.
        from werkzeug.middleware.proxy_fix import ProxyFix
        hops = ctx.settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops)
    return app


def log_requests(app: Flask) -> None:
    """Request ids and the access line, for an app that is not a service (the embedded root)."""
    app.before_request(_request_id)
    app.after_request(_echo_request_id)


def _request_id():
    g.request_id = request_id(request.environ)
    g.request_started = time.perf_counter()


def _echo_request_id(response):
    """Return the request id and write one JSON access-log line per request."""
    response.headers["X-Request-ID"] = g.get("request_id", "")
    started = g.get("request_started")
    principal = g.get("principal")
    access_log.info("request", extra={
        "method": request.method, "path": request.path, "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
        "by": principal.name if principal is not None else None})
    return response
