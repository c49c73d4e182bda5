"""Every list and report of the registry (API and staff console) runs as many SQL statements
for 30 clients as for 3 — each client with contacts, tags, a communication plan, interactions,
survey responses and complaints, and the client the per-client pages show with 30 of each —
and none of its statements runs a subquery per row."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import auth
from tests.registry.conftest import deliver
from tests.support.console import console_client
from tests.support.statements import assert_fixed_statements

SMALL, LARGE = 3, 30

ENDPOINTS = {
    "clients": "/api/v1/clients?per_page=200",
    "clients by text": "/api/v1/clients?q=client&per_page=200",
    "clients by tag and kind": "/api/v1/clients?tag=key&kind=external&sort=-annual_value",
    "client with contacts and grid position": "/api/v1/clients/{client}",
    "satisfaction ledger": "/api/v1/clients/{client}/satisfaction",
    "value record and history": "/api/v1/clients/{client}/value",
    "interactions": "/api/v1/clients/{client}/interactions?per_page=200",
    "communication plan": "/api/v1/clients/{client}/communication-plan",
    "follow-ups due": "/api/v1/followups/due?per_page=200",
    "portfolio report": "/api/v1/reports/portfolio",
    "console: clients": "/console/",
    "console: clients by text, tag and owner": "/console/?q=client&tag=key&owner=li.wei&status=all",
    "console: client page": "/console/clients/{client}",
    "console: portfolio": "/console/portfolio",
}

ON_POSTGRES = ("clients", "follow-ups due", "portfolio report", "console: portfolio")
"""Also counted on PostgreSQL: the portfolio is one statement with ``GROUPING SETS`` there."""


class Registry:
    """Clients registered over HTTP, each with two contacts, tags, a plan due for follow-up,
    an interaction, a survey response and a complaint; the first one (``subject``) with
    as many interactions, responses and complaints as there are clients."""

    def __init__(self, ctx, http, token, bus, clock) -> None:
        self.ctx, self.http, self.bus, self.clock = ctx, http, bus, clock
        self.headers = auth(token)
        self.clients: list[str] = []
        self.subject_rows = 0

    def grow(self, size: int) -> None:
        while len(self.clients) < size:
            self._client(len(self.clients))
        while self.subject_rows < size:
            self._care_and_feedback(self.clients[0], self.subject_rows)
            self.subject_rows += 1

    def _client(self, number: int) -> None:
        body = {"name": f"Client {number:02d}", "kind": "external", "category": "enterprise",
                "owner": "li.wei", "tags": ["key", f"t{number}"], "power": 4, "interest": 2,
                "annual_value": {"amount": f"{1000 + number}.00", "currency": "CNY"},
                "contacts": [{"name": f"Contact {number}a", "email": f"a{number}@example.com"},
                             {"name": f"Contact {number}b", "phone": "+86 10 1234 5678"}]}
        created = self.http.post("/api/v1/clients", json=body, headers=self.headers)
        assert created.status_code == 201, created.json
        client_id = created.json["id"]
        starts_on = (self.clock.now - timedelta(days=60)).date().isoformat()
        plan = self.http.put(f"/api/v1/clients/{client_id}/communication-plan", headers=self.headers,
                             json={"goal": "Quarterly review", "channel": "meeting",
                                   "frequency_days": 7, "starts_on": starts_on})
        assert plan.status_code == 201, plan.json
        self.clients.append(client_id)
        self._care_and_feedback(client_id, number)

    def _care_and_feedback(self, client_id: str, number: int) -> None:
        when = self.clock.now - timedelta(days=20, minutes=number)
        logged = self.http.post(f"/api/v1/clients/{client_id}/interactions", headers=self.headers,
                                json={"channel": "phone", "summary": f"Call {number}",
                                      "occurred_at": when.isoformat().replace("+00:00", "Z")})
        assert logged.status_code == 201, logged.json
        assert deliver(self.ctx, self.bus.survey(client_id, 60 + number % 40, at=when,
                                                 comment=f"Comment {number}"),
                       self.bus.opened(client_id, ("low", "high")[number % 2],
                                       at=when)) == [True, True]


@pytest.fixture
def settings(settings, request):
    """The registry on SQLite, or with ``request.param == "postgres"`` on PostgreSQL."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return settings
    return settings.with_overrides(database_urls={
        **settings.database_urls, "registry": request.getfixturevalue("postgres_url")})


@pytest.fixture
def registry(registry_ctx, http, tokens, bus, clock) -> Registry:
    return Registry(registry_ctx, http, tokens["staff"], bus, clock)


@pytest.mark.parametrize(("endpoint", "settings"), [
    *[(endpoint, "sqlite") for endpoint in ENDPOINTS],
    *[pytest.param(endpoint, "postgres", marks=pytest.mark.postgres) for endpoint in ON_POSTGRES]],
    indirect=["settings"])
def test_a_list_or_report_runs_as_many_statements_for_30_clients_as_for_3(
        endpoint, registry, registry_app, registry_ctx, tokens):
    if endpoint.startswith("console"):
        client = console_client(registry_app, tokens["staff"])
        headers = {}
    else:
        client, headers = registry_app.test_client(), auth(tokens["staff"])

    def request():
        return client.get(ENDPOINTS[endpoint].format(client=registry.clients[0]), headers=headers)

    # forecasts kept in memory (the portfolio's at-risk list) are computed afresh each time,
    # so both sizes count the same work
    assert_fixed_statements(registry_ctx.database.engine, registry.grow, request,
                            sizes=(SMALL, LARGE), label=endpoint,
                            before_count=lambda: registry_ctx.extras.pop("forecast_cache", None))


def test_the_lists_show_every_client_and_every_related_row(registry, registry_app, tokens):
    """The growth above is real: the lists counted hold the 30 clients and their rows."""
    registry.grow(LARGE)
    http, headers = registry_app.test_client(), auth(tokens["staff"])
    subject = registry.clients[0]

    def get(path: str) -> dict:
        answer = http.get(path.format(client=subject), headers=headers)
        assert answer.status_code == 200, answer.json
        return answer.json

    assert get(ENDPOINTS["clients"])["total"] == LARGE
    assert get(ENDPOINTS["clients by tag and kind"])["total"] == LARGE
    assert len(get(ENDPOINTS["satisfaction ledger"])["ledger"]) == 2 * (LARGE + 1)  # + complaints
    assert len(get(ENDPOINTS["interactions"])["items"]) == LARGE + 1
    due = get(ENDPOINTS["follow-ups due"])
    assert due["total"] == LARGE
    assert all(item["last_interaction_at"] for item in due["items"])
    assert get(ENDPOINTS["portfolio report"])["clients"] == LARGE
