"""The complaint analysis: its numbers against values computed here from a constructed set of
complaints with known timestamps, on SQLite and on PostgreSQL."""
from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from services.complaints.app import build_context, create_app
from shared.migrations import upgrade
from tests.complaints.complaints_helpers import (Clock, ComplaintsApi, register_client,
                                                 settings_on_dialect)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# The range 2025-03-03 … 2025-03-05 in Asia/Shanghai (UTC+8) is [03-02 16:00Z, 03-05 16:00Z).
RANGE_START, RANGE_END = at("2025-03-02T16:00:00"), at("2025-03-05T16:00:00")
NOW = at("2025-03-06T12:00:00")
RESOLVE = {"resolution_code": "fixed", "summary": "Done"}

SCENARIOS = [
    {"name": "A: before the range, still new", "opened": at("2025-03-02T15:59:00"),
     "severity": "medium", "category": "billing", "channel": "email", "steps": []},
    {"name": "B: first instant, resolved in time", "opened": at("2025-03-02T16:00:00"),
     "severity": "high", "category": "delivery", "channel": "phone", "steps": [
         (at("2025-03-02T16:30:00"), "acknowledge", {}),
         (at("2025-03-02T17:00:00"), "start", {}),
         (at("2025-03-03T02:00:00"), "resolve", {**RESOLVE, "root_cause": "Carrier delay"})]},
    {"name": "C: both deadlines missed, reopened", "opened": at("2025-03-03T09:00:00"),
     "severity": "critical", "category": "product", "channel": "web", "steps": [
         (at("2025-03-03T11:00:00"), "acknowledge", {}),
         (at("2025-03-03T12:00:00"), "start", {}),
         (at("2025-03-04T15:00:00"), "resolve", {**RESOLVE, "root_cause": "Defect"}),
         (at("2025-03-05T10:00:00"), "reopen", {"reason": "Still broken"})]},
    {"name": "D: waiting for the client", "opened": at("2025-03-04T10:00:00"),
     "severity": "low", "category": "service", "channel": "email", "steps": [
         (at("2025-03-04T11:00:00"), "acknowledge", {}),
         (at("2025-03-04T12:00:00"), "start", {}),
         (at("2025-03-04T13:00:00"), "wait", {"reason": "Need the order number"})]},
    {"name": "G: closed", "opened": at("2025-03-04T12:00:00"),
     "severity": "medium", "category": "communication", "channel": "phone", "steps": [
         (at("2025-03-04T16:00:00"), "acknowledge", {}),
         (at("2025-03-04T16:30:00"), "start", {}),
         (at("2025-03-04T18:00:00"), "resolve", {**RESOLVE, "root_cause": "Defect"}),
         (at("2025-03-04T20:00:00"), "close", {"client_accepted": True})]},
    {"name": "E: last second, acted on after the range", "opened": at("2025-03-05T15:59:59"),
     "severity": "medium", "category": "billing", "channel": "meeting", "steps": [
         (at("2025-03-06T10:00:00"), "acknowledge", {}),
         (at("2025-03-06T10:30:00"), "start", {}),
         (at("2025-03-06T11:00:00"), "resolve", {**RESOLVE, "root_cause": "Defect"})]},
    {"name": "F: after the range", "opened": at("2025-03-05T16:00:00"),
     "severity": "high", "category": "billing", "channel": "email", "steps": []},
    {"name": "H: old, resolved after the range", "opened": at("2025-02-20T08:00:00"),
     "severity": "low", "category": "other", "channel": "other", "steps": [
         (at("2025-02-20T09:00:00"), "acknowledge", {}),
         (at("2025-02-20T10:00:00"), "start", {}),
         (at("2025-03-06T09:00:00"), "resolve", {**RESOLVE, "root_cause": "Defect"})]},
]

RESPOND = {"critical": timedelta(hours=1), "high": timedelta(hours=4),
           "medium": timedelta(hours=8), "low": timedelta(hours=24)}
RESOLVE_IN = {"critical": timedelta(hours=24), "high": timedelta(hours=72),
              "medium": timedelta(days=5), "low": timedelta(days=10)}
STATUS_AFTER = {"acknowledge": "acknowledged", "start": "in_progress", "resolve": "resolved",
                "reopen": "in_progress", "close": "closed", "wait": "awaiting_client"}
OPEN = {"new", "acknowledged", "in_progress", "escalated", "awaiting_client"}


def cents(value) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def seconds(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds())


def expected_report(as_of: datetime) -> dict:
    """The report computed straight from the scenarios (no pauses reach a deadline here)."""
    cohort = [s for s in SCENARIOS if RANGE_START <= s["opened"] < RANGE_END]
    acknowledged, resolved, breached, reopened, ever_resolved = [], [], 0, 0, 0
    root_causes: dict[str, int] = {}
    for s in cohort:
        times = {action: when for when, action, _ in s["steps"]}
        if "acknowledge" in times:
            acknowledged.append(seconds(s["opened"], times["acknowledge"]))
        respond_by = s["opened"] + RESPOND[s["severity"]]
        resolve_by = s["opened"] + RESOLVE_IN[s["severity"]]
        late_response = times.get("acknowledge", NOW) > respond_by
        late_resolution = times.get("resolve", NOW) > resolve_by
        breached += late_response or late_resolution
        if "resolve" in times:
            ever_resolved += 1
        if "reopen" in times:
            reopened += 1
        elif "resolve" in times:
            resolved.append(seconds(s["opened"], times["resolve"]))
            root = next(f["root_cause"] for _, a, f in s["steps"] if a == "resolve")
            root_causes[root] = root_causes.get(root, 0) + 1
    backlog = {"lt_1d": 0, "1_3d": 0, "3_7d": 0, "gt_7d": 0}
    inclusive = as_of == NOW            # the range's end is exclusive, now is not

    def before(moment):
        return moment <= as_of if inclusive else moment < as_of

    for s in SCENARIOS:
        if not before(s["opened"]):
            continue
        status = "new"
        for when, action, _ in s["steps"]:
            if before(when):
                status = STATUS_AFTER[action]
        if status in OPEN:
            age = as_of - s["opened"]
            bucket = ("lt_1d" if age < timedelta(days=1) else "1_3d" if age < timedelta(days=3)
                      else "3_7d" if age < timedelta(days=7) else "gt_7d")
            backlog[bucket] += 1

    def stats(values):
        return {"mean": cents(Decimal(sum(values)) / len(values)),
                "median": cents(statistics.median(values))}

    def count(key):
        counts: dict[str, int] = {}
        for s in cohort:
            counts[s[key]] = counts.get(s[key], 0) + 1
        return counts

    return {"total": len(cohort), "by_category": count("category"),
            "by_severity": count("severity"), "by_channel": count("channel"),
            "by_root_cause": root_causes,
            "time_to_acknowledge_s": stats(acknowledged), "time_to_resolve_s": stats(resolved),
            "sla_breach_rate": cents(Decimal(breached * 100) / len(cohort)),
            "reopen_rate": cents(Decimal(reopened * 100) / ever_resolved),
            "backlog_by_age": backlog}


@pytest.fixture(params=["sqlite", "postgres"])
def report_api(request, settings, tokens):
    settings = settings_on_dialect(request, settings)
    settings = settings.with_overrides(timezone="Asia/Shanghai")
    upgrade("complaints", settings.database_url("complaints"))
    ctx = build_context(settings, clock=Clock(RANGE_START))
    yield ComplaintsApi(create_app(context=ctx).test_client(), ctx, tokens)
    ctx.database.dispose()


def build_scenarios(api: ComplaintsApi) -> None:
    client_id = register_client(api.ctx, tier="B")
    for scenario in SCENARIOS:
        api.clock.set(scenario["opened"])
        complaint = api.opened(client_id=client_id, severity=scenario["severity"],
                               category=scenario["category"], channel=scenario["channel"])
        for when, action, fields in scenario["steps"]:
            api.clock.set(when)
            api.acted(complaint["id"], action, **fields)
    api.clock.set(NOW)


def test_the_report_matches_values_computed_from_the_complaints(report_api):
    build_scenarios(report_api)

    response = report_api.report(**{"from": "2025-03-03", "to": "2025-03-05"})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    expected = expected_report(as_of=RANGE_END)
    assert (body["from"], body["to"], body["timezone"]) == ("2025-03-03", "2025-03-05",
                                                            "Asia/Shanghai")
    assert body["as_of"] == "2025-03-05T16:00:00.000000Z"
    assert body["total"] == expected["total"] == 5
    for key in ("by_category", "by_severity", "by_channel"):
        assert {k: v for k, v in body[key].items() if v} == expected[key], key
    assert body["by_category"]["delivery"] == 1 and body["by_category"]["other"] == 0
    assert body["by_root_cause"] == expected["by_root_cause"] == {"Defect": 2,
                                                                 "Carrier delay": 1}
    assert list(body["by_root_cause"]) == ["Defect", "Carrier delay"]
    assert body["time_to_acknowledge_s"] == expected["time_to_acknowledge_s"] == {
        "mean": 18360.2, "median": 7200.0}
    assert body["time_to_resolve_s"] == expected["time_to_resolve_s"] == {
        "mean": 42000.33, "median": 36000.0}
    assert body["sla_breach_rate"] == expected["sla_breach_rate"] == 40.0
    assert body["reopen_rate"] == expected["reopen_rate"] == 25.0
    assert body["backlog_by_age"] == expected["backlog_by_age"] == {
        "lt_1d": 1, "1_3d": 2, "3_7d": 1, "gt_7d": 1}


def test_a_range_that_includes_today_shows_todays_backlog(report_api):
    build_scenarios(report_api)

    body = report_api.report(**{"from": "2025-03-06", "to": "2025-03-06"}).get_json()

    assert body["as_of"] == "2025-03-06T12:00:00.000000Z"
    # open now: A (new), C (reopened), D (waiting), F (new); E and H were resolved today.
    assert body["backlog_by_age"] == expected_report(as_of=NOW)["backlog_by_age"] == {
        "lt_1d": 1, "1_3d": 1, "3_7d": 2, "gt_7d": 0}
    assert body["total"] == 1          # F: opened at 00:00 on 03-06 in Shanghai


def test_an_empty_range_has_unknown_rates_and_times(api):
    body = api.report(**{"from": "2024-01-01", "to": "2024-01-31"}).get_json()

    assert body["total"] == 0
    assert body["time_to_acknowledge_s"] == {"mean": None, "median": None}
    assert (body["sla_breach_rate"], body["reopen_rate"]) == (None, None)
    assert body["backlog_by_age"] == {"lt_1d": 0, "1_3d": 0, "3_7d": 0, "gt_7d": 0}
    assert list(body["by_severity"]) == ["low", "medium", "high", "critical"]


def test_the_default_range_is_the_last_thirty_days(api):
    body = api.report().get_json()

    assert (body["from"], body["to"]) == ("2025-02-02", "2025-03-03")


@pytest.mark.parametrize("query", [
    {"from": "2025-03-05", "to": "2025-03-01"},
    {"from": "yesterday"},
    {"to": "2025-02-30"},
    {"from": "0001-01-01"},
    {"to": "9999-12-31"},
])
def test_an_invalid_range_is_422(api, query):
    response = api.report(**query)

    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
