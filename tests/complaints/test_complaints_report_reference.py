"""The complaint analysis on a rich set of complaints, on SQLite and PostgreSQL: every figure
of the report (and the console's weekly volume) equals a plain-Python computation over the same
rows, for periods in the past, around today, across a daylight-saving change and empty.

The rows are written straight into the tables (as an import or the bench would): every status,
reopened complaints, paused ones, published and unpublished breaches, a category outside the
vocabulary, equal durations, even and odd counts, complaints on the first and the last instant
of a day, and a timeline for each, so the backlog at a past moment is read from it."""
from __future__ import annotations

import random
import statistics
import uuid
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from services.complaints.adapters.repository import COMPLAINTS, TIMELINE
from services.complaints.app import build_context, create_app
from services.complaints.web.analysis import Period, figures
from shared.migrations import upgrade
from tests.complaints.complaints_helpers import Clock, ComplaintsApi, settings_on_dialect

ZONE_NAME = "Europe/Berlin"          # summer time begins on 30 March 2025
ZONE = ZoneInfo(ZONE_NAME)
NOW = datetime(2025, 4, 16, 13, 5, 7, tzinfo=UTC)
FIRST_OPENED = datetime(2025, 2, 3, tzinfo=UTC)
RESPOND = {"low": 24, "medium": 8, "high": 4, "critical": 1}          # hours
RESOLVE = {"low": 240, "medium": 120, "high": 72, "critical": 24}     # hours
CATEGORIES = ("product", "service", "delivery", "billing", "communication", "other")
SEVERITIES = ("low", "medium", "high", "critical")
CHANNELS = ("phone", "email", "web", "meeting", "survey", "other")
ROOT_CAUSES = ("carrier delay", "defect", "duplicate billing run", "配送延误", "unclear terms")
OPEN = ("new", "acknowledged", "in_progress", "escalated", "awaiting_client")
RUNNING = ("new", "acknowledged", "in_progress", "escalated")


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZONE).astimezone(UTC)


def seconds(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds())


def make_complaints(rng: random.Random, count: int = 260) -> tuple[list[dict], list[dict]]:
    """Complaint rows and their timelines: what the service would have stored."""
    rows, entries = [], []
    span = seconds(FIRST_OPENED, NOW - timedelta(hours=2))
    for number in range(1, count + 1):
        if number % 29 == 0:     # on a day's first instant (local), or its last second
            day = (FIRST_OPENED + timedelta(seconds=rng.randrange(span))).astimezone(ZONE).date()
            opened = local_midnight(day) - timedelta(seconds=number % 2)
        else:
            opened = FIRST_OPENED + timedelta(seconds=rng.randrange(span))
        severity = rng.choice(SEVERITIES)
        row = {"id": str(uuid.uuid4()), "ref": f"CMP-{number:06d}",
               "client_id": str(uuid.uuid4()), "client_tier": "B",
               "channel": rng.choice(CHANNELS),
               "category": "legacy" if number % 37 == 0 else rng.choice(CATEGORIES),
               "severity": severity, "title": f"Complaint {number}", "description": "",
               "status": rng.choice(("new", "acknowledged", "in_progress", "escalated",
                                     "awaiting_client", "resolved", "resolved", "closed",
                                     "closed", "closed")),
               "opened_at": opened, "respond_by": opened + timedelta(hours=RESPOND[severity]),
               "resolve_by": opened + timedelta(hours=RESOLVE[severity]),
               "acknowledged_at": None, "resolved_at": None, "closed_at": None,
               "root_cause": None, "waiting_since": None, "waiting_s": 0,
               "pause_extension_s": 0, "reopen_count": 0, "time_to_acknowledge_s": None,
               "time_to_resolve_s": None, "client_erased": False, "version": 1,
               "created_by": "import", "updated_at": opened,
               "response_breach_published": rng.random() < 0.1,
               "resolution_breach_published": rng.random() < 0.1}
        timeline = [(opened, "open", None, "new")]
        limit = NOW - opened

        def later(at: datetime, hours: float) -> datetime:
            # equal durations now and then: whole quarter hours
            step = timedelta(minutes=15 * rng.randrange(1, int(hours * 4) + 2))
            return min(at + step, opened + limit * 0.98)

        status = row["status"]
        if status != "new":
            acknowledged = later(opened, RESPOND[severity] * 1.5)
            row.update(acknowledged_at=acknowledged,
                       time_to_acknowledge_s=seconds(opened, acknowledged))
            timeline.append((acknowledged, "acknowledge", "new", "acknowledged"))
            at = acknowledged
            if status != "acknowledged":
                at = later(at, 2)
                timeline.append((at, "start", "acknowledged", "in_progress"))
            if status == "escalated":
                at = later(at, 6)
                timeline.append((at, "escalate", "in_progress", "escalated"))
            if status == "awaiting_client":   # sometimes only after the deadline passed
                at = later(at, RESOLVE[severity] * 1.2)
                row["waiting_since"] = at
                timeline.append((at, "wait", "in_progress", "awaiting_client"))
            reopened = status in ("in_progress", "resolved", "closed") and rng.random() < 0.25
            if reopened and limit > timedelta(days=4):
                at = later(at, 20)
                timeline.append((at, "resolve", "in_progress", "resolved"))
                at = later(at, 24)
                timeline.append((at, "reopen", "resolved", "in_progress"))
                row["reopen_count"] = 1
            if status in ("resolved", "closed"):
                resolved = later(at, RESOLVE[severity] * 1.3)
                row.update(resolved_at=resolved, time_to_resolve_s=seconds(opened, resolved),
                           root_cause=rng.choice(ROOT_CAUSES))
                timeline.append((resolved, "resolve", "in_progress", "resolved"))
                if status == "closed":
                    closed = later(resolved, 48)
                    row["closed_at"] = closed
                    timeline.append((closed, "close", "resolved", "closed"))
        if number == count:     # resolved at the very instant of the report: not open then
            opened = row["opened_at"] = NOW - timedelta(days=2)
            row.update(status="resolved", acknowledged_at=opened + timedelta(hours=1),
                       time_to_acknowledge_s=3600, resolved_at=NOW,
                       time_to_resolve_s=seconds(opened, NOW), root_cause="defect",
                       waiting_since=None, closed_at=None, reopen_count=0,
                       respond_by=opened + timedelta(hours=24),
                       resolve_by=opened + timedelta(hours=240))
            timeline = [(opened, "open", None, "new"),
                        (opened + timedelta(hours=1), "acknowledge", "new", "acknowledged"),
                        (opened + timedelta(hours=2), "start", "acknowledged", "in_progress"),
                        (NOW, "resolve", "in_progress", "resolved")]
        rows.append(row)
        entries += [{"complaint_id": row["id"], "at": at, "by": "import", "action": action,
                     "from_status": before, "to_status": after, "note": None, "details": {}}
                    for at, action, before, after in timeline]
    entries.sort(key=lambda entry: entry["at"])   # ids increase with time, as they do
    return rows, entries


# -- the reference: plain Python over the rows ---------------------------------------------------

def cents(value) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def stats(values: list[int]) -> dict:
    if not values:
        return {"mean": None, "median": None}
    return {"mean": cents(Decimal(sum(values)) / len(values)),
            "median": cents(statistics.median(values))}


def percentage(part: int, whole: int):
    return None if whole == 0 else cents(Decimal(part * 100) / whole)


def breached(row: dict, now: datetime) -> bool:
    acknowledged, resolved = row["acknowledged_at"], row["resolved_at"]
    late_response = (row["response_breach_published"]
                     or (acknowledged is not None and acknowledged > row["respond_by"])
                     or (acknowledged is None and row["respond_by"] < now))
    late_resolution = (row["resolution_breach_published"]
                       or (row["status"] in RUNNING and row["resolve_by"] < now)
                       or (row["status"] == "awaiting_client"
                           and row["waiting_since"] > row["resolve_by"])
                       or (resolved is not None and resolved > row["resolve_by"]))
    return late_response or late_resolution


def counted(values, known=()) -> list[tuple[str, int]]:
    """Known values first in their order (0 when absent), then the others, most frequent first,
    ties by name."""
    counts = Counter(value for value in values if value is not None)
    return ([(value, counts.get(value, 0)) for value in known]
            + sorted(((value, count) for value, count in counts.items() if value not in known),
                     key=lambda item: (-item[1], item[0])))


def expected(rows: list[dict], entries: list[dict], first: date, last: date,
             now: datetime) -> dict:
    start, end = local_midnight(first), local_midnight(last + timedelta(days=1))
    cohort = [row for row in rows if start <= row["opened_at"] < end]
    as_of, inclusive = min(now, end), now < end
    by_id = {row["id"]: row for row in rows}

    def before(moment: datetime) -> bool:
        return moment <= as_of if inclusive else moment < as_of

    status_then: dict[str, str] = {}
    for entry in entries:                          # the last entry before as_of
        if before(entry["at"]):
            status_then[entry["complaint_id"]] = entry["to_status"]
    backlog = {"lt_1d": 0, "1_3d": 0, "3_7d": 0, "gt_7d": 0}
    for complaint_id, status in status_then.items():
        if status in OPEN and before(by_id[complaint_id]["opened_at"]):
            age = as_of - by_id[complaint_id]["opened_at"]
            backlog["lt_1d" if age < timedelta(days=1) else "1_3d" if age < timedelta(days=3)
                    else "3_7d" if age < timedelta(days=7) else "gt_7d"] += 1
    mondays = []
    monday = first - timedelta(days=first.weekday())
    while monday <= last:
        mondays.append(monday)
        monday += timedelta(days=7)
    weeks = Counter(row["opened_at"].astimezone(ZONE).date() for row in cohort)
    weekly = [(monday, sum(weeks[monday + timedelta(days=d)] for d in range(7)))
              for monday in mondays]
    ever_resolved = [row for row in cohort if row["reopen_count"] or row["resolved_at"]]
    return {
        "total": len(cohort),
        "by_category": counted((row["category"] for row in cohort), CATEGORIES),
        "by_severity": counted((row["severity"] for row in cohort), SEVERITIES),
        "by_channel": counted((row["channel"] for row in cohort), CHANNELS),
        "by_root_cause": counted(row["root_cause"] for row in cohort),
        "time_to_acknowledge_s": stats([row["time_to_acknowledge_s"] for row in cohort
                                        if row["time_to_acknowledge_s"] is not None]),
        "time_to_resolve_s": stats([row["time_to_resolve_s"] for row in cohort
                                    if row["time_to_resolve_s"] is not None]),
        "sla_breach_rate": percentage(sum(breached(row, now) for row in cohort), len(cohort)),
        "reopen_rate": percentage(sum(1 for row in cohort if row["reopen_count"]),
                                  len(ever_resolved)),
        "backlog_by_age": backlog,
        "as_of": as_of,
        "weekly": weekly,
    }


# -- the service -------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgres"])
def loaded(request, settings, tokens):
    settings = settings_on_dialect(request, settings)
    settings = settings.with_overrides(timezone=ZONE_NAME)
    upgrade("complaints", settings.database_url("complaints"))
    ctx = build_context(settings, clock=Clock(NOW))
    rows, entries = make_complaints(random.Random(20250416))
    with ctx.database.transaction() as session:
        session.execute(insert(COMPLAINTS), rows)
        session.execute(insert(TIMELINE), entries)
    yield ComplaintsApi(create_app(context=ctx).test_client(), ctx, tokens), rows, entries
    ctx.database.dispose()


PERIODS = [
    (date(2025, 2, 3), date(2025, 4, 16), NOW),               # everything, up to today
    (date(2025, 3, 17), date(2025, 4, 6), NOW),               # past weeks, summer time begins
    (date(2025, 3, 30), date(2025, 3, 30), NOW),              # the 23-hour day
    (date(2025, 4, 10), date(2025, 4, 20), NOW),              # today inside, future days
    (date(2025, 2, 1), date(2025, 2, 28), datetime(2025, 2, 20, 8, 30, tzinfo=UTC)),
    (date(2024, 12, 1), date(2024, 12, 31), NOW),             # before any complaint
]


def test_the_fixture_exercises_every_case(loaded):
    _api, rows, _entries = loaded
    statuses = Counter(row["status"] for row in rows)
    assert set(statuses) == set(OPEN) | {"resolved", "closed"}
    assert any(row["reopen_count"] for row in rows)
    assert any(row["category"] == "legacy" for row in rows)
    assert any(row["waiting_since"] and row["waiting_since"] > row["resolve_by"]   # the
               and not breached({**row, "waiting_since": row["resolve_by"]}, NOW)  # only breach
               for row in rows)
    resolve_times = [row["time_to_resolve_s"] for row in rows if row["time_to_resolve_s"]]
    assert len(resolve_times) > len(set(resolve_times))              # equal durations
    for column in ("time_to_acknowledge_s", "time_to_resolve_s"):   # even and odd medians
        sizes = {len([row for row in rows if local_midnight(first) <= row["opened_at"]
                      < local_midnight(last + timedelta(days=1)) and row[column] is not None])
                 for first, last, _now in PERIODS} - {0}
        assert {size % 2 for size in sizes} == {0, 1}, column


@pytest.mark.parametrize("first, last, now", PERIODS, ids=lambda value: str(value)[:10])
def test_every_figure_matches_a_plain_computation(loaded, first, last, now):
    api, rows, entries = loaded
    api.clock.set(now)
    want = expected(rows, entries, first, last, now)

    response = api.report(**{"from": first.isoformat(), "to": last.isoformat()})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    for key in ("by_category", "by_severity", "by_channel", "by_root_cause"):
        assert list(body[key].items()) == want[key], key
    for key in ("total", "time_to_acknowledge_s", "time_to_resolve_s", "sla_breach_rate",
                "reopen_rate", "backlog_by_age"):
        assert body[key] == want[key], key
    assert body["as_of"] == want["as_of"].strftime("%Y-%m-%dT%H:%M:%S.000000Z")

    with api.ctx.database.transaction() as session:
        page = figures(session, Period(first, last, ZONE), now)
    assert page["weekly"] == want["weekly"]
    assert {key: page[key] for key in ("total", "by_root_cause", "time_to_resolve_s",
                                       "backlog_by_age")} == {
        key: body[key] for key in ("total", "by_root_cause", "time_to_resolve_s",
                                   "backlog_by_age")}
