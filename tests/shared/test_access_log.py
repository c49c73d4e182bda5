"""Every request leaves one JSON log line carrying its request id, echoed to the caller."""
from __future__ import annotations

import io
import json
import logging

from services.registry.app import build_context, create_app
from shared.logs import JsonFormatter
from shared.migrations import upgrade
from tests.conftest import auth


def test_a_request_writes_one_json_access_line_with_its_request_id(settings, tokens):
    upgrade("registry", settings.database_url("registry"))
    ctx = build_context(settings)
    app = create_app(context=ctx)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("clientloop.access")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        answer = app.test_client().get("/api/v1/clients/00000000-0000-4000-8000-000000000000",
                                       headers=auth(tokens["analyst"], **{"X-Request-ID": "trace-42"}))
        fresh = app.test_client().get("/healthz")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        ctx.database.dispose()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert answer.status_code == 404 and answer.headers["X-Request-ID"] == "trace-42"
    assert lines[0]["request_id"] == "trace-42"
    assert (lines[0]["status"], lines[0]["method"], lines[0]["by"]) == (404, "GET", "analyst-user")
    assert lines[1]["request_id"] == fresh.headers["X-Request-ID"] != "trace-42"
    assert len(lines) == 2
