"""Metrics labels never carry what a caller typed: no path, no token, no invented method."""
from __future__ import annotations

import re

from services.registry.app import build_context, create_app
from shared.migrations import upgrade

TOKEN = "Zq3vT9kLmN0pQrStUvWxYz_-AbCdEf12"


def test_labels_are_route_patterns_and_known_methods(settings):
    upgrade("registry", settings.database_url("registry"))
    ctx = build_context(settings)
    try:
        http = create_app(context=ctx).test_client()
        assert http.get(f"/s/{TOKEN}").status_code == 404
        assert http.get(f"/api/v1/clients/{TOKEN}?token={TOKEN}").status_code in (401, 404)
        assert http.open("/healthz", method=f"X{TOKEN[:10]}").status_code == 405
        assert http.get("/healthz").status_code == 200
        text = http.get("/metrics").get_data(as_text=True)
    finally:
        ctx.database.dispose()
    assert TOKEN not in text and TOKEN[:10] not in text
    endpoints = set(re.findall(r'endpoint="([^"]*)"', text))
    assert "unmatched" in endpoints and "/healthz" in endpoints
    assert all(endpoint == "unmatched" or endpoint.startswith("/") and TOKEN not in endpoint
               for endpoint in endpoints)
    assert set(re.findall(r'method="([^"]*)"', text)) <= {"GET", "other"}
