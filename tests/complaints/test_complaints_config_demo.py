"""Configuration of the complaint rules, and the demo data for ``clientloop up --demo``."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from services.complaints.adapters.orm import ComplaintRecord
from services.complaints.app import build_context, load_demo, run_jobs
from services.complaints.config import rules_from_env
from shared.demo import CLIENT_IDS
from shared.events import validate_data
from tests.complaints.complaints_helpers import outbox_events, register_client


def test_the_defaults_are_the_specs():
    rules = rules_from_env({})

    assert rules.sla.targets_for("high", "A").resolve == timedelta(hours=36)
    assert rules.sla.targets_for("low", "C").respond == timedelta(hours=24)
    assert (rules.auto_close_after, rules.reopen_window) == (timedelta(days=7), timedelta(days=30))


def test_rules_come_from_the_environment():
    rules = rules_from_env({"CLIENTLOOP_COMPLAINTS_SLA": "critical=30m/12h, low=2d/20d",
                            "CLIENTLOOP_COMPLAINTS_TIER_FACTORS": "A=0.25,B=0.5",
                            "CLIENTLOOP_COMPLAINTS_AUTO_CLOSE_DAYS": "3",
                            "CLIENTLOOP_COMPLAINTS_REOPEN_DAYS": "14"})

    assert rules.sla.targets_for("critical", "A").respond == timedelta(minutes=7.5)
    assert rules.sla.targets_for("low", "B").resolve == timedelta(days=10)
    assert rules.sla.targets_for("high", "C").resolve == timedelta(hours=72)
    assert (rules.auto_close_after, rules.reopen_window) == (timedelta(days=3), timedelta(days=14))


@pytest.mark.parametrize("env", [
    {"CLIENTLOOP_COMPLAINTS_SLA": "urgent=1h/2h"},
    {"CLIENTLOOP_COMPLAINTS_SLA": "high=4h"},
    {"CLIENTLOOP_COMPLAINTS_SLA": "high=4 hours/3d"},
    {"CLIENTLOOP_COMPLAINTS_SLA": "high=0h/3d"},
    {"CLIENTLOOP_COMPLAINTS_TIER_FACTORS": "A=half"},
    {"CLIENTLOOP_COMPLAINTS_TIER_FACTORS": "A=0"},
    {"CLIENTLOOP_COMPLAINTS_AUTO_CLOSE_DAYS": "soon"},
    {"CLIENTLOOP_COMPLAINTS_AUTO_CLOSE_DAYS": "0"},
])
def test_a_bad_setting_stops_the_start_with_a_message(env):
    with pytest.raises(SystemExit):
        rules_from_env(env)


def test_an_unknown_time_zone_stops_the_start(settings):
    with pytest.raises(SystemExit):
        build_context(settings.with_overrides(timezone="Mars/Olympus"))


def _complaints(ctx) -> int:
    with ctx.database.transaction() as session:
        return session.execute(select(func.count()).select_from(ComplaintRecord)).scalar_one()


def test_the_demo_waits_for_clients_then_creates_complaints_once(complaints_ctx, clock):
    load_demo(complaints_ctx)
    run_jobs(complaints_ctx, clock.now)
    assert _complaints(complaints_ctx) == 0

    theirs = register_client(complaints_ctx, name="深圳地铁 Shenzhen Metro")
    run_jobs(complaints_ctx, clock.now)
    assert _complaints(complaints_ctx) == 0  # not a client of the demo's
    register_client(complaints_ctx, name="Acme", client_id=CLIENT_IDS[0])
    register_client(complaints_ctx, name="Globex", tier="A", client_id=CLIENT_IDS[1])
    run_jobs(complaints_ctx, clock.now)
    created = _complaints(complaints_ctx)
    run_jobs(complaints_ctx, clock.now)
    load_demo(complaints_ctx)

    # 4 current complaints, 7 of the improvement's history, 225 closed ones of the weekly history
    assert created == 236
    assert _complaints(complaints_ctx) == 236
    events = outbox_events(complaints_ctx)
    assert {e["event_type"] for e in events} >= {"complaint.opened", "complaint.resolved",
                                                 "complaint.waiting"}
    for event in events:
        validate_data(event["event_type"], event["data"])
    clients = {event["data"]["client_id"] for event in events if "client_id" in event["data"]}
    assert clients == set(CLIENT_IDS[:2]) and theirs not in clients


def test_the_demo_loads_at_once_when_clients_are_known(complaints_ctx):
    register_client(complaints_ctx, client_id=CLIENT_IDS[3])

    load_demo(complaints_ctx)

    assert _complaints(complaints_ctx) == 236


def test_the_demo_improvement_shows_a_fall_in_complaints(complaints_ctx, api):
    register_client(complaints_ctx, client_id=CLIENT_IDS[3])
    load_demo(complaints_ctx)

    [improvement] = api.client.get("/api/v1/improvements",
                                   headers=api.headers()).get_json()["items"]
    assert (improvement["status"], improvement["root_cause"]) == ("done", "Carrier delay")
    effect = improvement["effect"]
    assert effect["before"]["complaints"] == 6 and effect["after"]["complaints"] == 1
    assert effect["after"]["per_30_days"] < effect["before"]["per_30_days"]
    assert effect["change_percent"] == -66.67
