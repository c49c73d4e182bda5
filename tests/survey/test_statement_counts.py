"""Every list and report of the survey service (API and staff console) runs as many SQL
statements for 30 surveys as for 3 — each survey with an invitation and a response, the one the
per-survey pages show with 30 clients invited (links resent, some revoked) and 30 responses —
and none of its statements runs a subquery per row. The results are also counted on
PostgreSQL, where their SQL differs."""
from __future__ import annotations

import pytest

from tests.conftest import auth
from tests.support.console import console_client
from tests.support.statements import assert_fixed_statements
from tests.survey.console.conftest import clock, survey_app, survey_ctx  # noqa: F401 (fixtures)
from tests.survey.survey_support import (FULL_ANSWERS, active_survey, invite, learn_client,
                                         token_of)

SMALL, LARGE = 3, 30

ENDPOINTS = {
    "surveys": "/api/v1/surveys?per_page=200",
    "surveys by status": "/api/v1/surveys?status=active&per_page=200",
    "invitations": "/api/v1/surveys/{survey}/invitations?per_page=200",
    "invitations by state": "/api/v1/surveys/{survey}/invitations?state=answered&per_page=200",
    "invitations of a client": "/api/v1/surveys/{survey}/invitations?client_id={client}",
    "responses": "/api/v1/surveys/{survey}/responses?per_page=200",
    "responses as CSV": "/api/v1/surveys/{survey}/responses?format=csv",
    "results": "/api/v1/surveys/{survey}/results",
    "results by month": "/api/v1/surveys/{survey}/results?group_by=month",
    "results by kind": "/api/v1/surveys/{survey}/results?group_by=kind",
    "results by tier": "/api/v1/surveys/{survey}/results?group_by=tier",
    "console: surveys": "/console/",
    "console: surveys by status": "/console/?status=active",
    "console: invitations": "/console/surveys/{survey}/invitations",
    "console: invitations by state": "/console/surveys/{survey}/invitations?state=open",
    "console: clients to invite": "/console/surveys/{survey}/invite?q=client",
    "console: results": "/console/surveys/{survey}/results",
    "console: responses": "/console/surveys/{survey}/responses",
    "console: responses as CSV": "/console/surveys/{survey}/responses.csv",
}
ON_POSTGRES = ("invitations by state", "results by month", "results by tier", "console: results")


class Surveys:
    """Active surveys created over HTTP, each answered by a client of its own; the first
    (``subject``) also sent to as many more clients as there are surveys, every third link
    resent, every fifth invitation revoked and the others answered."""

    def __init__(self, ctx, http, headers) -> None:
        self.ctx, self.http, self.headers = ctx, http, headers
        self.surveys: list[str] = []
        self.clients: list[str] = []

    def grow(self, size: int) -> None:
        while len(self.surveys) < size:
            self.surveys.append(active_survey(self.http, self.headers)["id"])
            self._answered(self.surveys[-1], len(self.surveys) - 1)
        while len(self.clients) < size:
            number = len(self.clients)
            client_id = learn_client(self.ctx, name=f"Client {number:02d}",
                                     kind=("external", "internal")[number % 2],
                                     tier="ABC"[number % 3])
            self.clients.append(client_id)
            item = invite(self.http, self.headers, self.surveys[0], client_id)
            if number % 3 == 1:
                resent = self.http.post(f"/api/v1/invitations/{item['id']}/resend",
                                        headers=self.headers)
                assert resent.status_code == 200, resent.get_json()
            if number % 5 == 4:
                revoked = self.http.post(f"/api/v1/invitations/{item['id']}/revoke",
                                         headers=self.headers)
                assert revoked.status_code == 200, revoked.get_json()
            else:
                self._submit(item)

    def _answered(self, survey_id: str, number: int) -> None:
        client_id = learn_client(self.ctx, name=f"Survey {number:02d} client")
        self._submit(invite(self.http, self.headers, survey_id, client_id))

    def _submit(self, item: dict) -> None:
        answer = self.http.post("/api/v1/public/responses",
                                json={"token": token_of(item["url"]), "answers": FULL_ANSWERS})
        assert answer.status_code == 201, answer.get_json()


@pytest.fixture
def settings(settings, request):
    """The survey service on SQLite, or with ``request.param == "postgres"`` on PostgreSQL."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return settings
    return settings.with_overrides(database_urls={
        **settings.database_urls, "survey": request.getfixturevalue("postgres_url")})


@pytest.fixture
def surveys(survey_ctx, survey_app, tokens) -> Surveys:  # noqa: F811 (the fixtures above)
    return Surveys(survey_ctx, survey_app.test_client(), auth(tokens["staff"]))


@pytest.mark.parametrize(("endpoint", "settings"), [
    *[(endpoint, "sqlite") for endpoint in ENDPOINTS],
    *[pytest.param(endpoint, "postgres", marks=pytest.mark.postgres) for endpoint in ON_POSTGRES]],
    indirect=["settings"])
def test_a_list_or_report_runs_as_many_statements_for_30_surveys_as_for_3(
        endpoint, surveys, survey_app, survey_ctx, tokens):  # noqa: F811 (the fixtures above)
    if endpoint.startswith("console"):
        client = console_client(survey_app, tokens["staff"])
        headers = {}
    else:
        client, headers = survey_app.test_client(), auth(tokens["staff"])

    def request():  # a CSV is read as it streams, inside the count
        return client.get(ENDPOINTS[endpoint].format(survey=surveys.surveys[0],
                                                     client=surveys.clients[0]), headers=headers)

    assert_fixed_statements(survey_ctx.database.engine, surveys.grow, request,
                            sizes=(SMALL, LARGE), label=endpoint)


def test_the_lists_and_results_hold_every_row(surveys, survey_app, tokens):  # noqa: F811
    """The growth above is real: what was counted shows the 30 surveys and their rows."""
    surveys.grow(LARGE)
    http, headers = survey_app.test_client(), auth(tokens["staff"])

    def get(name: str) -> dict:
        answer = http.get(ENDPOINTS[name].format(survey=surveys.surveys[0],
                                                 client=surveys.clients[0]), headers=headers)
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    answered = 1 + sum(number % 5 != 4 for number in range(LARGE))
    assert get("surveys")["total"] == LARGE
    assert get("invitations")["total"] == LARGE + 1
    assert get("invitations by state")["total"] == answered
    assert get("responses")["total"] == answered
    assert get("results")["overall"]["responses"] == answered
