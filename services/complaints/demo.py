"""Demo complaints for ``clientloop up --demo``.

The complaints are the registry demo's clients' only (their ids are fixed, ``shared.demo``),
never a client someone else registered. This service knows clients only from registry events,
and on the first start those events are still on their way when the demo is loaded. So: if demo
clients are known, the demo complaints are created at once; otherwise the request is remembered
(``service_state``) and the periodic jobs create them as soon as registry events have brought
demo clients in. Nothing is created when the database already holds complaints.

Besides the four current complaints, a history of late deliveries and the improvement action
that addressed them (:data:`IMPROVEMENT`): six complaints with its root cause in the 90 days
before it started, one in the 45 days since it was done — its effect shows the fall (2 → 0.67
per 30 days, −66.67 %).

And some fifteen months of closed complaints (:data:`HISTORY_WEEKS` complete weeks before the
current one, :func:`weekly_counts`), so the weekly forecast has a history to learn from: 2–6
complaints a week, rising over the months and highest around the year-end (seasonal in the
calendar, so the exact counts depend on the day the demo is loaded; the noise is drawn with a
fixed seed). Each is opened, acknowledged, resolved with one of :data:`_ROUTINE_CAUSES` (never
the improvement's root cause, so its effect is unchanged) and closed, all through the service's
use cases with backdated times: every step is a real event (the registry and the survey see
them). With fewer than 104 weeks the forecast is ``ets_damped`` with a backtest.
"""
from __future__ import annotations

import math
import random
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from services.complaints import improvements, service
from services.complaints.adapters.orm import ComplaintRecord, KnownClientRecord, ServiceStateRecord
from shared.demo import CLIENT_IDS
from shared.forecasting import week_start

PENDING_KEY = "demo_pending"
BY = "demo"

_SCRIPTS: tuple[dict[str, Any], ...] = (
    {"opened": timedelta(hours=2), "channel": "email", "category": "billing",
     "severity": "medium", "title": "发票重复扣款 Invoice charged twice",
     "description": "The March invoice was charged twice to the company card.",
     "remedy_sought": "Refund the second charge", "steps": ()},
    {"opened": timedelta(days=2), "channel": "phone", "category": "delivery",
     "severity": "high", "title": "Deliverable two weeks late",
     "description": "The integration milestone slipped without notice.",
     "remedy_sought": "A recovery plan and a revised schedule",
     "steps": (("acknowledge", {}, timedelta(hours=1)),
               ("assign", {"assignee": "Li Wei"}, timedelta(hours=2)),
               ("start", {}, timedelta(hours=3)))},
    {"opened": timedelta(days=6), "channel": "meeting", "category": "communication",
     "severity": "low", "title": "Weekly report not received",
     "description": "The weekly status report stopped arriving.",
     "remedy_sought": None,
     "steps": (("acknowledge", {}, timedelta(hours=3)),
               ("start", {}, timedelta(hours=4)),
               ("resolve", {"resolution_code": "fixed", "root_cause": "Mailing list error",
                            "summary": "Added the client back to the report mailing list."},
                timedelta(days=1)))},
    {"opened": timedelta(days=1), "channel": "web", "category": "product",
     "severity": "medium", "title": "导出功能报错 Export fails",
     "description": "Exporting the monthly data to Excel fails with an error.",
     "remedy_sought": "A working export",
     "steps": (("acknowledge", {}, timedelta(hours=2)),
               ("start", {}, timedelta(hours=3)),
               ("wait", {"reason": "Asked the client for the file that fails"},
                timedelta(hours=5)))},
)


IMPROVEMENT: dict[str, Any] = {
    "title": "承运商服务协议 Renegotiate the carrier agreement",
    "root_cause": "Carrier delay", "category": "delivery", "owner": "Zhang Min",
    "description": "Penalties for late deliveries and a second carrier for urgent orders.",
    "started": timedelta(days=60), "done": timedelta(days=45)}
_HISTORY_DAYS_AGO = (140, 125, 110, 95, 80, 65, 20)
"""When the complaints with the improvement's root cause were opened (days before now)."""


def _history(session, clients: list[KnownClientRecord], now: datetime, rules) -> int:
    """The late deliveries (resolved with ``Carrier delay``) and the improvement action."""
    for index, days in enumerate(_HISTORY_DAYS_AGO):
        opened = now - timedelta(days=days)
        changed = service.open_new_complaint(session, {
            "client_id": clients[index % len(clients)].id, "channel": "phone",
            "category": "delivery", "severity": "medium",
            "title": "Delivery arrived late", "description": "The order arrived days late.",
            "remedy_sought": None}, by=BY, now=opened, rules=rules)
        for action, fields, after in (
                ("acknowledge", {}, timedelta(hours=2)),
                ("resolve", {"resolution_code": "goodwill",
                             "root_cause": ("carrier delay", "Carrier delay")[index % 3 > 0],
                             "summary": "The carrier was late; apologised."},
                 timedelta(days=1))):
            service.act(session, changed.complaint.id, action, fields, by=BY,
                        now=opened + after, rules=rules)
    improvement = improvements.create_improvement(
        session, {name: IMPROVEMENT[name] for name in (
            "title", "root_cause", "category", "owner", "description")},
        by=BY, now=now - timedelta(days=61))
    for action, ago in (("start", IMPROVEMENT["started"]), ("complete", IMPROVEMENT["done"])):
        improvements.act_on_improvement(session, improvement.id, action, None, by=BY,
                                        now=now - ago)
    return len(_HISTORY_DAYS_AGO)


HISTORY_WEEKS = 64
"""Complete weeks of routine history before the current week (at least 60, under 104)."""
HISTORY_SEED = 20240101
_ROUTINE_CAUSES: dict[str, tuple[str, str, str, str]] = {
    # category: (title, root cause, resolution code, summary)
    "billing": ("账单金额有误 Wrong amount on the invoice", "Invoice template error", "refund",
                "Corrected the invoice template and refunded the difference."),
    "delivery": ("Wrong items in the shipment", "Warehouse picking error", "replacement",
                 "Sent the missing items; picking list checked twice."),
    "product": ("报表数据不刷新 Report data not refreshed", "Software defect", "fixed",
                "Fixed the defect in the next patch release."),
    "service": ("Support hotline not answered", "Understaffed support desk", "goodwill",
                "Apologised and added a month of premium support."),
    "communication": ("Change not announced", "Missed status update", "explanation",
                      "Explained the change; the client is back on the announcement list."),
}
_CATEGORY_WEIGHTS = (("product", 4), ("service", 3), ("billing", 2), ("delivery", 2),
                     ("communication", 2))
_SEVERITY_WEIGHTS = (("low", 6), ("medium", 4), ("high", 1))
_CHANNELS = ("email", "phone", "web", "meeting")


def weekly_counts(mondays: list[date], rng: random.Random) -> list[int]:
    """Complaints per routine week: 2.5 rising to 4 a week, ±1.2 with the season (most in the
    last week of December), plus noise; between 2 and 6."""
    counts = []
    for index, monday in enumerate(mondays):
        trend = 2.5 + 1.5 * index / max(1, len(mondays) - 1)
        day_of_year = (monday + timedelta(days=3)).timetuple().tm_yday
        season = 1.2 * math.cos(2 * math.pi * (day_of_year - 358) / 365.25)
        counts.append(min(6, max(2, round(trend + season + rng.gauss(0, 0.7)))))
    return counts


def _weighted(rng: random.Random, weights: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([name for name, _w in weights], [w for _name, w in weights])[0]


SEGMENT_PREFIX = "移动端用户"
"""The demo's end-user segment ("移动端用户 Mobile app users"): the routine history is its
complaints, as an app's users bring most of a service's everyday complaints. The other demo
clients keep the satisfaction their own few complaints and answers give them."""


def _segment(session) -> list[KnownClientRecord]:
    return list(session.execute(
        select(KnownClientRecord).where(KnownClientRecord.id.in_(CLIENT_IDS),
                                        KnownClientRecord.registered.is_(True),
                                        KnownClientRecord.status == "active",
                                        KnownClientRecord.name.startswith(SEGMENT_PREFIX))
        .limit(1)).scalars())


def _routine_history(session, clients: list[KnownClientRecord], now: datetime, zone,
                     rules) -> int:
    """:data:`HISTORY_WEEKS` weeks of complaints, each resolved and closed (see the module)."""
    rng = random.Random(HISTORY_SEED)
    source = _segment(session) or clients
    this_week = week_start(now.astimezone(zone).date())
    mondays = [this_week - timedelta(weeks=HISTORY_WEEKS - i) for i in range(HISTORY_WEEKS)]
    created = 0
    for monday, count in zip(mondays, weekly_counts(mondays, rng)):
        for _ in range(count):
            category = _weighted(rng, _CATEGORY_WEIGHTS)
            title, cause, code, summary = _ROUTINE_CAUSES[category]
            opened = datetime.combine(monday + timedelta(days=rng.randrange(7)),
                                      time(rng.randrange(8, 18), rng.randrange(60)), zone)
            steps = [("acknowledge", {}, timedelta(hours=rng.uniform(0.5, 6))),
                     ("resolve", {"resolution_code": code, "root_cause": cause,
                                  "summary": summary}, timedelta(hours=rng.uniform(4, 96))),
                     ("close", {"client_accepted": True}, timedelta(days=rng.uniform(1, 3)))]
            total = sum((after for _a, _f, after in steps), timedelta())
            # the last weeks' complaints are closed before now, their steps closer together
            scale = min(1.0, (now - opened) * 0.9 / total)
            changed = service.open_new_complaint(session, {
                "client_id": source[created % len(source)].id,
                "channel": _CHANNELS[rng.randrange(len(_CHANNELS))], "category": category,
                "severity": _weighted(rng, _SEVERITY_WEIGHTS), "title": title,
                "description": "A routine complaint of the demo history.",
                "remedy_sought": None}, by=BY, now=opened, rules=rules)
            at = opened
            for action, fields, after in steps:
                at += after * scale
                service.act(session, changed.complaint.id, action, fields, by=BY, now=at,
                            rules=rules)
            created += 1
    return created


def _known_clients(session) -> list[KnownClientRecord]:
    return list(session.execute(
        select(KnownClientRecord).where(KnownClientRecord.id.in_(CLIENT_IDS),
                                        KnownClientRecord.registered.is_(True),
                                        KnownClientRecord.status == "active")
        .order_by(KnownClientRecord.name, KnownClientRecord.id).limit(len(_SCRIPTS))
    ).scalars())


def _create(session, clients: list[KnownClientRecord], now: datetime, zone, rules) -> int:
    created = 0
    for index, script in enumerate(_SCRIPTS):
        client = clients[index % len(clients)]
        opened = now - script["opened"]
        changed = service.open_new_complaint(session, {
            "client_id": client.id, **{name: script[name] for name in (
                "channel", "category", "severity", "title", "description", "remedy_sought")},
        }, by=BY, now=opened, rules=rules)
        for action, fields, after in script["steps"]:
            service.act(session, changed.complaint.id, action, fields, by=BY,
                        now=opened + after, rules=rules)
        created += 1
    created += _history(session, clients, now, rules)
    return created + _routine_history(session, clients, now, zone, rules)


def load(ctx, now: datetime) -> int:
    """Create the demo complaints now if demo clients are known, else remember the request."""
    with ctx.database.transaction() as session:
        if session.execute(select(func.count()).select_from(ComplaintRecord)).scalar_one():
            return 0
        clients = _known_clients(session)
        if not clients:
            if session.get(ServiceStateRecord, PENDING_KEY) is None:
                session.add(ServiceStateRecord(key=PENDING_KEY, value=now.isoformat()))
            return 0
        return _create(session, clients, now, ctx.extras["timezone"], ctx.extras["rules"])


def load_if_pending(ctx, now: datetime) -> int:
    """The periodic jobs' part: a remembered demo request, once demo clients are known."""
    with ctx.database.transaction() as session:
        if session.get(ServiceStateRecord, PENDING_KEY) is None:
            return 0
        if not _known_clients(session):
            return 0
        session.execute(delete(ServiceStateRecord).where(ServiceStateRecord.key == PENDING_KEY))
        if session.execute(select(func.count()).select_from(ComplaintRecord)).scalar_one():
            return 0
        return _create(session, _known_clients(session), now, ctx.extras["timezone"],
                       ctx.extras["rules"])
