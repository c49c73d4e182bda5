"""The console's own SQL (the queue's order and search, the weekly volume) on PostgreSQL."""
from __future__ import annotations

import pytest

from services.complaints.app import build_context, create_app
from shared.migrations import upgrade
from tests.complaints.complaints_helpers import START, Clock, ComplaintsApi, register_client
from tests.complaints.console.console_helpers import queue_refs, text
from tests.support.console import console_client

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(settings, tokens, postgres_url):
    settings = settings.with_overrides(
        database_urls={**settings.database_urls, "complaints": postgres_url},
        timezone="Asia/Shanghai")
    upgrade("complaints", postgres_url)
    ctx = build_context(settings, clock=Clock(START))
    app = create_app(context=ctx)
    yield ComplaintsApi(app.test_client(), ctx, tokens), console_client(app, tokens["staff"])
    ctx.database.dispose()


def test_queue_order_search_and_analysis_on_postgresql(pg):
    api, staff = pg
    acme = register_client(api.ctx, name="Acme 100% Trading")
    low = api.opened(severity="low", client_id=acme)
    paused = api.in_status("awaiting_client", severity="critical")
    critical = api.opened(severity="critical", title="Server DOWN")
    api.in_status("resolved", severity="high")

    assert queue_refs(staff.get("/console/")) == [critical["ref"], low["ref"], paused["ref"]]
    assert queue_refs(staff.get("/console/?q=100%25")) == [low["ref"]]
    assert queue_refs(staff.get("/console/?q=server+down")) == [critical["ref"]]
    assert queue_refs(staff.get("/console/?q=_")) == []
    analysis = staff.get("/console/analysis?from=2025-03-01&to=2025-03-31")
    assert analysis.status_code == 200
    assert "<td>4</td>" in text(analysis)  # the week of 3 March
