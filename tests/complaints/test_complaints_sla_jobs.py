"""SLA deadlines, the breach job and the automatic close, on a controlled clock."""
from __future__ import annotations

from datetime import timedelta

import pytest

from services.complaints.app import build_context, create_app, run_jobs
from shared.events import validate_data
from shared.migrations import upgrade
from shared.runtime import run_jobs_once
from tests.complaints.complaints_helpers import (START, Clock, ComplaintsApi, outbox_events,
                                                 register_client)

SECOND = timedelta(seconds=1)


def breaches(ctx) -> list[dict]:
    return [event["data"] for event in outbox_events(ctx)
            if event["event_type"] == "complaint.sla_breached"]


@pytest.mark.parametrize("severity, tier, respond, resolve", [
    ("critical", "B", timedelta(hours=1), timedelta(hours=24)),
    ("high", "C", timedelta(hours=4), timedelta(hours=72)),
    ("medium", None, timedelta(hours=8), timedelta(days=5)),
    ("low", "B", timedelta(hours=24), timedelta(days=10)),
    ("critical", "A", timedelta(minutes=30), timedelta(hours=12)),
    ("low", "A", timedelta(hours=12), timedelta(days=5)),
])
def test_deadlines_by_severity_halved_for_tier_a(api, complaints_ctx, severity, tier, respond,
                                                 resolve):
    client_id = register_client(complaints_ctx, tier=tier)

    body = api.opened(client_id=client_id, severity=severity)

    assert body["respond_by"] == (START + respond).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    assert body["resolve_by"] == (START + resolve).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def test_a_breach_is_published_once_per_complaint_and_kind(api, complaints_ctx, clock):
    complaint = api.opened(severity="high")            # respond by 13:00, resolve by +72 h

    run_jobs(complaints_ctx, START + timedelta(hours=4))
    assert breaches(complaints_ctx) == []

    run_jobs(complaints_ctx, START + timedelta(hours=4) + SECOND)
    run_jobs(complaints_ctx, START + timedelta(hours=5))
    [response] = breaches(complaints_ctx)
    validate_data("complaint.sla_breached", response)
    assert (response["kind"], response["deadline"], response["ref"]) == (
        "response", "2025-03-03T13:00:00Z", complaint["ref"])

    clock.set(START + timedelta(hours=6))
    api.acted(complaint["id"], "acknowledge")           # late: no second response breach
    api.acted(complaint["id"], "start")
    run_jobs(complaints_ctx, START + timedelta(hours=72))
    assert len(breaches(complaints_ctx)) == 1

    run_jobs(complaints_ctx, START + timedelta(hours=72) + SECOND)
    run_jobs(complaints_ctx, START + timedelta(hours=80))
    clock.set(START + timedelta(hours=81))
    api.acted(complaint["id"], "resolve")
    api.acted(complaint["id"], "reopen")
    run_jobs(complaints_ctx, START + timedelta(hours=90))
    kinds = [data["kind"] for data in breaches(complaints_ctx)]
    assert kinds == ["response", "resolution"]
    resolved = [e for e in outbox_events(complaints_ctx) if e["event_type"] == "complaint.resolved"]
    assert resolved[0]["data"]["within_sla"] is False


def test_acting_late_publishes_the_breach_at_once(api, complaints_ctx, clock):
    complaint = api.opened(severity="critical")         # respond by 10:00
    clock.set(START + timedelta(hours=2))

    api.acted(complaint["id"], "acknowledge")

    [breach] = breaches(complaints_ctx)
    assert breach["kind"] == "response"
    run_jobs(complaints_ctx, START + timedelta(hours=3))
    assert len(breaches(complaints_ctx)) == 1


def test_a_pause_of_three_hours_moves_the_resolution_deadline_three_hours(api, complaints_ctx,
                                                                          clock):
    complaint = api.in_status("in_progress")            # medium: resolve by START + 5 days
    clock.set(START + timedelta(days=1))
    api.acted(complaint["id"], "wait")
    assert api.read(complaint["id"])["overdue"] is False

    clock.advance(hours=3)
    body = api.acted(complaint["id"], "resume")

    assert body["resolve_by"] == "2025-03-08T12:00:00.000000Z"
    assert body["waiting_s"] == 3 * 3600
    resumed = outbox_events(complaints_ctx)[-1]
    assert resumed["event_type"] == "complaint.resumed"
    validate_data("complaint.resumed", resumed["data"])
    assert resumed["data"]["resolve_by"] == "2025-03-08T12:00:00Z"


def test_a_passed_deadline_never_moves_and_a_paused_complaint_is_not_overdue(api, clock,
                                                                             complaints_ctx):
    complaint = api.in_status("in_progress", severity="critical")   # resolve by START + 24 h
    clock.set(START + timedelta(hours=30))
    assert api.read(complaint["id"])["overdue"] is True

    api.acted(complaint["id"], "wait")
    paused = api.read(complaint["id"])
    clock.advance(hours=5)
    resumed = api.acted(complaint["id"], "resume")

    assert paused["overdue"] is False
    assert resumed["resolve_by"] == "2025-03-04T09:00:00.000000Z"
    assert resumed["waiting_s"] == 5 * 3600
    assert [b["kind"] for b in breaches(complaints_ctx)] == ["resolution"]


def test_a_resolved_complaint_closes_by_itself_after_seven_days(api, complaints_ctx, clock):
    complaint = api.in_status("resolved")
    resolved_at = clock.now

    run_jobs(complaints_ctx, resolved_at + timedelta(days=7) - SECOND)
    assert api.read(complaint["id"])["status"] == "resolved"

    counts = run_jobs(complaints_ctx, resolved_at + timedelta(days=7))
    run_jobs(complaints_ctx, resolved_at + timedelta(days=8))

    assert counts["closed"] == 1
    body = api.read(complaint["id"])
    assert (body["status"], body["client_accepted"]) == ("closed", None)
    entry = body["timeline"][-1]
    assert (entry["action"], entry["by"]) == ("close", "system")
    closed = [e for e in outbox_events(complaints_ctx) if e["event_type"] == "complaint.closed"]
    assert len(closed) == 1
    validate_data("complaint.closed", closed[0]["data"])
    assert (closed[0]["data"]["by"], closed[0]["data"]["client_accepted"]) == ("system", None)


def test_a_reopened_complaint_does_not_close_by_itself(api, complaints_ctx, clock):
    complaint = api.in_status("resolved")
    clock.advance(days=2)
    api.acted(complaint["id"], "reopen")

    run_jobs(complaints_ctx, clock.now + timedelta(days=30))

    assert api.read(complaint["id"])["status"] == "in_progress"


def test_the_close_delay_is_configurable(settings, tokens):
    settings = settings.with_overrides(extra={"CLIENTLOOP_COMPLAINTS_AUTO_CLOSE_DAYS": "2"})
    upgrade("complaints", settings.database_url("complaints"))
    ctx = build_context(settings, clock=Clock(START))
    try:
        api = ComplaintsApi(create_app(context=ctx).test_client(), ctx, tokens)
        complaint = api.in_status("resolved")

        run_jobs_once("complaints", ctx)
        assert api.read(complaint["id"])["status"] == "resolved"
        ctx.clock.advance(days=2)
        run_jobs_once("complaints", ctx)             # what `clientloop jobs complaints` runs

        assert api.read(complaint["id"])["status"] == "closed"
    finally:
        ctx.database.dispose()


def test_the_job_leaves_complaints_without_due_work_untouched(api, complaints_ctx):
    complaint = api.opened(severity="low")

    counts = run_jobs(complaints_ctx, START + timedelta(hours=1))

    assert counts == {"breaches": 0, "closed": 0}
    assert api.read(complaint["id"])["version"] == 1
