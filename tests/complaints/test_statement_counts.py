"""Every list and report of the complaints service (API and staff console) runs as many SQL
statements for 30 complaints as for 3 — complaints in every status, each with a note, the one
the per-complaint pages show with 30 more timeline entries — and none of its statements runs a
subquery per row (per complaint). The report and the queue are also counted on PostgreSQL,
where they use other SQL (``GROUPING SETS``, ``percentile_cont``, ``width_bucket``)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.complaints.complaints_helpers import PATH_TO, ComplaintsApi, register_client
from tests.conftest import auth, make_token
from tests.support.console import console_client
from tests.support.statements import assert_fixed_statements, plan, statements

SMALL, LARGE = 3, 30
STATUSES = ("resolved", "acknowledged", "new", "closed", "escalated", "awaiting_client",
            "in_progress")
"""The statuses the complaints are brought to, in turn: 3 already have an acknowledgement
and a resolution to measure."""
MONTH = "from=2025-03-01&to=2025-03-31"
PAST = "from=2025-03-01&to=2025-03-04"
"""A range that ends while complaints opened in it were still open (the backlog then)."""

ENDPOINTS = {
    "complaints": "/api/v1/complaints?per_page=200",
    "complaints by severity, category and channel":
        "/api/v1/complaints?severity=medium&category=billing&channel=email&per_page=200",
    "complaints by status and assignee": "/api/v1/complaints?status=acknowledged&assignee=Li%20Wei",
    "complaints overdue": "/api/v1/complaints?overdue=true&per_page=200",
    "complaints not overdue": "/api/v1/complaints?overdue=false&per_page=200",
    "complaints by text": "/api/v1/complaints?q=client&per_page=200",
    "complaints by ref": "/api/v1/complaints?ref={ref}",
    "complaints of a client": "/api/v1/complaints?client_id={client}",
    "complaint and its timeline": "/api/v1/complaints/{complaint}",
    "complaints report": f"/api/v1/reports/complaints?{MONTH}",
    "complaints report, past backlog": f"/api/v1/reports/complaints?{PAST}",
    "complaints report, default range": "/api/v1/reports/complaints",
    "console: queue": "/console/",
    "console: queue, any status by text": "/console/?status=any&q=client",
    "console: queue, overdue and mine": "/console/?overdue=1&mine=1&severity=medium",
    "console: complaint and its timeline": "/console/complaints/{complaint}",
    "console: analysis": f"/console/analysis?{MONTH}",
    "console: analysis, past backlog": f"/console/analysis?{PAST}",
    "console: new complaint, client search": "/console/new?client_q=client",
    "improvements": "/api/v1/improvements?per_page=200",
    "improvements in progress": "/api/v1/improvements?status=in_progress",
    "improvement and its timeline": "/api/v1/improvements/{improvement}",
    "root-cause report": f"/api/v1/reports/root-causes?{MONTH}",
}
ON_POSTGRES = ("complaints by text", "complaints report", "complaints report, past backlog",
               "console: queue, any status by text", "console: analysis",
               "console: analysis, past backlog", "improvements", "root-cause report")


class Complaints:
    """Complaints opened over HTTP, one client each, brought to the statuses of ``STATUSES``
    in turn (an hour between actions), assigned and noted while they can be; the first
    (``subject``) with as many more notes as there are complaints. Counted eight days later,
    when those still running are overdue."""

    def __init__(self, api: ComplaintsApi) -> None:
        self.api = api
        self.opened: list[dict] = []
        self.subject_notes = 0
        self.improvements: list[dict] = []

    def grow(self, size: int) -> None:
        while len(self.opened) < size:
            self._complaint(len(self.opened))
        while self.subject_notes < size:
            self._note(self.opened[0]["id"], self.subject_notes)
            self.subject_notes += 1
        self.api.clock.advance(days=8)  # past the deadlines: some overdue, at either size

    def _complaint(self, number: int) -> None:
        api = self.api
        client_id = register_client(api.ctx, name=f"Client {number:02d}", tier="ABC"[number % 3])
        complaint = api.in_status(STATUSES[number % len(STATUSES)], step=timedelta(hours=1),
                                  client_id=client_id, severity=("medium", "high")[number % 2],
                                  category=("billing", "delivery")[number % 2],
                                  channel=("email", "phone")[number % 2])
        if complaint["status"] not in ("resolved", "closed"):
            complaint = api.acted(complaint["id"], "assign")
        if complaint["status"] != "closed":  # a closed complaint takes no notes
            self._note(complaint["id"], number)
        self.opened.append(complaint)
        self._improvement(number)

    def _improvement(self, number: int) -> None:
        """An improvement action per complaint, on the root cause the resolved ones have,
        left ``planned`` or brought to ``in_progress`` or ``done`` in turn; the first
        (``improvements[0]``) corrected once more each time."""
        api = self.api
        answer = api.client.post("/api/v1/improvements", headers=api.headers(), json={
            "title": f"Improvement {number}", "root_cause": "duplicate  billing run"})
        assert answer.status_code == 201, answer.get_json()
        improvement = answer.get_json()
        for action in ("start", "complete")[:number % 3]:
            acted = api.client.post(f"/api/v1/improvements/{improvement['id']}/actions",
                                    json={"action": action}, headers=api.headers())
            assert acted.status_code == 200, acted.get_json()
        self.improvements.append(improvement)
        if number:
            subject = self.improvements[0]["id"]
            corrected = api.client.patch(f"/api/v1/improvements/{subject}",
                                         json={"owner": f"Owner {number}"},
                                         headers=api.headers())
            assert corrected.status_code == 200, corrected.get_json()

    def _note(self, complaint_id: str, number: int) -> None:
        self.api.clock.advance(minutes=5)
        noted = self.api.note(complaint_id, f"Note {number}")
        assert noted.status_code == 201, noted.get_json()


@pytest.fixture
def settings(settings, request):
    """The complaints service on SQLite, or with ``request.param == "postgres"`` on
    PostgreSQL."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return settings
    return settings.with_overrides(database_urls={
        **settings.database_urls, "complaints": request.getfixturevalue("postgres_url")})


@pytest.fixture
def complaints(api) -> Complaints:
    return Complaints(api)


@pytest.mark.parametrize(("endpoint", "settings"), [
    *[(endpoint, "sqlite") for endpoint in ENDPOINTS],
    *[pytest.param(endpoint, "postgres", marks=pytest.mark.postgres) for endpoint in ON_POSTGRES]],
    indirect=["settings"])
def test_a_list_or_report_runs_as_many_statements_for_30_complaints_as_for_3(
        endpoint, complaints, complaints_app, complaints_ctx, settings, tokens):
    if endpoint.startswith("console"):
        client = console_client(complaints_app, make_token(settings, "staff", name="Li Wei"))
        headers = {}
    else:
        client, headers = complaints_app.test_client(), auth(tokens["staff"])

    def request():
        subject = complaints.opened[0]
        path = ENDPOINTS[endpoint].format(complaint=subject["id"], ref=subject["ref"],
                                          client=subject["client_id"],
                                          improvement=complaints.improvements[0]["id"])
        return client.get(path, headers=headers)

    # forecasts kept in memory (the analysis page's band) are computed afresh each time, so
    # both sizes count the same work
    assert_fixed_statements(complaints_ctx.database.engine, complaints.grow, request,
                            sizes=(SMALL, LARGE), label=endpoint,
                            before_count=lambda: complaints_ctx.extras.pop("forecast_cache", None))


def test_the_lists_and_the_report_hold_every_complaint(complaints, api):
    """The growth above is real: what was counted shows the 30 complaints and their rows."""
    complaints.grow(LARGE)
    subject = complaints.opened[0]

    def get(name: str) -> dict:
        answer = api.client.get(ENDPOINTS[name].format(complaint=subject["id"]),
                                headers=api.headers())
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    assert get("complaints")["total"] == LARGE
    assert get("complaints by text")["total"] == LARGE
    assert len(get("complaint and its timeline")["timeline"]) == (
        1 + len(PATH_TO[STATUSES[0]]) + 1 + LARGE)  # opened, actions, its note, the others
    report = get("complaints report")
    assert report["total"] == LARGE
    assert sum(report["backlog_by_age"].values()) == sum(
        complaint["status"] not in ("resolved", "closed") for complaint in complaints.opened)
    assert sum(get("complaints report, past backlog")["backlog_by_age"].values()) > 0
    assert get("improvements")["total"] == LARGE
    pareto = get("root-cause report")
    assert pareto["total"] > 0
    assert len(pareto["items"][0]["actions"]) == LARGE


@pytest.mark.postgres
@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
def test_on_postgresql_the_report_reads_its_rows_through_indexes(complaints, api, settings):
    """Each statement of the report finds its rows by index, as on a table too large to scan:
    the cohort by opening time, the backlog's candidates by status and resolution time, and
    the timeline from the backlog's moment on (``ix_complaint_timeline_at``)."""
    complaints.grow(SMALL)
    engine = api.ctx.database.engine
    with statements(engine) as seen:
        assert api.client.get(f"/api/v1/reports/complaints?{PAST}",
                              headers=api.headers()).status_code == 200
    plans = {statement.sql: plan(engine, statement, avoid_seq_scans=True) for statement in seen}

    assert [line for lines in plans.values() for line in lines if "Seq Scan" in line] == []
    backlog = [lines for sql, lines in plans.items() if "complaint_timeline" in sql]
    assert len(backlog) == 1
    assert any("ix_complaint_timeline_at" in line for line in backlog[0]), backlog[0]
