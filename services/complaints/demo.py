"""Demo complaints for ``clientloop up --demo``.

This service knows clients only from registry events, and on the first start those events are
still on their way when the demo is loaded. So: if clients are known, the demo complaints are
created at once; otherwise the request is remembered (``service_state``) and the periodic jobs
create them as soon as registry events have brought clients in. Nothing is created when the
database already holds complaints.

Besides the four current complaints, a history of late deliveries and the improvement action
that addressed them (:data:`IMPROVEMENT`): six complaints with its root cause in the 90 days
before it started, one in the 45 days since it was done — its effect shows the fall (2 → 0.67
per 30 days, −66.67 %).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from services.complaints import improvements, service
from services.complaints.adapters.orm import ComplaintRecord, KnownClientRecord, ServiceStateRecord

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


def _known_clients(session) -> list[KnownClientRecord]:
    return list(session.execute(
        select(KnownClientRecord).where(KnownClientRecord.registered.is_(True),
                                        KnownClientRecord.status == "active")
        .order_by(KnownClientRecord.name, KnownClientRecord.id).limit(len(_SCRIPTS))
    ).scalars())


def _create(session, clients: list[KnownClientRecord], now: datetime, rules) -> int:
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
    return created + _history(session, clients, now, rules)


def load(ctx, now: datetime) -> int:
    """Create the demo complaints now if clients are known, else remember the request."""
    with ctx.database.transaction() as session:
        if session.execute(select(func.count()).select_from(ComplaintRecord)).scalar_one():
            return 0
        clients = _known_clients(session)
        if not clients:
            if session.get(ServiceStateRecord, PENDING_KEY) is None:
                session.add(ServiceStateRecord(key=PENDING_KEY, value=now.isoformat()))
            return 0
        return _create(session, clients, now, ctx.extras["rules"])


def load_if_pending(ctx, now: datetime) -> int:
    """The periodic jobs' part: a remembered demo request, once clients are known."""
    with ctx.database.transaction() as session:
        if session.get(ServiceStateRecord, PENDING_KEY) is None:
            return 0
        if not _known_clients(session):
            return 0
        session.execute(delete(ServiceStateRecord).where(ServiceStateRecord.key == PENDING_KEY))
        if session.execute(select(func.count()).select_from(ComplaintRecord)).scalar_one():
            return 0
        return _create(session, _known_clients(session), now, ctx.extras["rules"])
