"""Builders for complaints tests: a controllable clock, registry events for the client
directory, and a small HTTP driver for complaints."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from services.complaints.app import event_handlers
from shared.bus.consumer import apply_once
from shared.bus.envelope import Event
from tests.conftest import auth

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

VALID_FIELDS: dict[str, dict[str, Any]] = {
    "acknowledge": {},
    "assign": {"assignee": "Li Wei"},
    "start": {},
    "escalate": {"reason": "Refund above the agent's limit"},
    "wait": {"reason": "Asked the client for the order number"},
    "resume": {},
    "resolve": {"resolution_code": "refund", "root_cause": "Duplicate billing run",
                "summary": "Refunded the duplicate charge"},
    "close": {"client_accepted": True},
    "reopen": {"reason": "The refund never arrived"},
}

PATH_TO: dict[str, tuple[str, ...]] = {
    "new": (),
    "acknowledged": ("acknowledge",),
    "in_progress": ("acknowledge", "start"),
    "escalated": ("acknowledge", "escalate"),
    "awaiting_client": ("acknowledge", "start", "wait"),
    "resolved": ("acknowledge", "start", "resolve"),
    "closed": ("acknowledge", "start", "resolve", "close"),
}
"""The shortest way to each status through the workflow."""


class Clock:
    """``ctx.clock``: returns ``now`` until told to move."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **span: float) -> datetime:
        self.now += timedelta(**span)
        return self.now

    def set(self, moment: datetime) -> datetime:
        self.now = moment
        return moment


# -- the client directory (registry events) ------------------------------------------------------

def settings_on_dialect(request, settings):
    """``settings`` with the complaints database on a fresh PostgreSQL database when the
    parametrised fixture's ``request.param`` names PostgreSQL (``postgresql`` or ``postgres``),
    else as they are (the embedded SQLite file)."""
    if request.param in ("postgresql", "postgres"):
        url = request.getfixturevalue("postgres_url")
        return settings.with_overrides(database_urls={**settings.database_urls,
                                                      "complaints": url})
    return settings


def client_event(ctx, event_type: str, data: dict[str, Any], *, subject: str,
                 at: datetime | None = None, event_id: str | None = None) -> bool:
    """Apply one registry event the way the consumer does (inbox + handler, one transaction)."""
    handler = event_handlers(ctx)[event_type]
    event = Event(id=event_id or str(uuid.uuid4()), type=event_type, source="clientloop/registry",
                  subject=subject, time=at or ctx.clock(), sequence=None, data=data)
    return apply_once(ctx.database, ctx.tables, handler, event, now=ctx.clock())


def client_data(client_id: str, *, name: str = "华为 Huawei", tier: str | None = "B",
                status: str = "active") -> dict[str, Any]:
    return {"client": {"id": client_id, "name": name, "kind": "external",
                       "category": "enterprise", "tier": tier, "tags": [], "owner": None,
                       "preferred_language": "zh-CN", "contacts": [], "status": status}}


def register_client(ctx, *, tier: str | None = "B", name: str = "华为 Huawei",
                    client_id: str | None = None, at: datetime | None = None) -> str:
    client_id = client_id or str(uuid.uuid4())
    client_event(ctx, "client.registered", client_data(client_id, name=name, tier=tier),
                 subject=client_id, at=at)
    return client_id


def outbox_events(ctx) -> list[dict[str, Any]]:
    """Every event the service recorded, oldest first, as CloudEvents envelopes."""
    table = ctx.tables.outbox
    with ctx.database.transaction() as session:
        bodies = session.execute(select(table.c.body).order_by(table.c.id)).scalars().all()
    envelopes = [json.loads(body) for body in bodies]
    for envelope in envelopes:
        envelope["event_type"] = envelope["type"][len("clientloop."):-len(".v1")]
    return envelopes


# -- HTTP ------------------------------------------------------------------------------------------

class ComplaintsApi:
    """Drives ``/api/v1/complaints`` through the Flask test client."""

    def __init__(self, client, ctx, tokens: dict[str, str]) -> None:
        self.client = client
        self.ctx = ctx
        self.tokens = tokens
        self._default_client_id: str | None = None

    @property
    def clock(self) -> Clock:
        return self.ctx.clock

    def headers(self, role: str = "staff", **extra: str) -> dict[str, str]:
        return auth(self.tokens[role], **extra)

    def default_client(self) -> str:
        if self._default_client_id is None:
            self._default_client_id = register_client(self.ctx)
        return self._default_client_id

    def body(self, **overrides: Any) -> dict[str, Any]:
        body = {"client_id": overrides.pop("client_id", None) or self.default_client(),
                "channel": "email", "category": "billing", "severity": "medium",
                "title": "Charged twice for March",
                "description": "The March invoice was charged twice.",
                "remedy_sought": "Refund the second charge"}
        body.update(overrides)
        return body

    def open(self, *, headers: dict[str, str] | None = None, **overrides: Any):
        return self.client.post("/api/v1/complaints", json=self.body(**overrides),
                                headers=headers or self.headers())

    def opened(self, **overrides: Any) -> dict[str, Any]:
        response = self.open(**overrides)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def action(self, complaint_id: str, body: Any, *, headers: dict[str, str] | None = None):
        return self.client.post(f"/api/v1/complaints/{complaint_id}/actions", json=body,
                                headers=headers or self.headers())

    def act(self, complaint_id: str, action: str, *, headers: dict[str, str] | None = None,
            **fields: Any):
        return self.action(complaint_id, {"action": action, **VALID_FIELDS.get(action, {}),
                                          **fields}, headers=headers)

    def acted(self, complaint_id: str, action: str, **fields: Any) -> dict[str, Any]:
        response = self.act(complaint_id, action, **fields)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def get(self, complaint_id: str, role: str = "staff"):
        return self.client.get(f"/api/v1/complaints/{complaint_id}", headers=self.headers(role))

    def read(self, complaint_id: str) -> dict[str, Any]:
        response = self.get(complaint_id)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def patch(self, complaint_id: str, body: Any, **headers: str):
        return self.client.patch(f"/api/v1/complaints/{complaint_id}", json=body,
                                 headers=self.headers(**headers))

    def note(self, complaint_id: str, text: Any, **headers: str):
        return self.client.post(f"/api/v1/complaints/{complaint_id}/notes", json={"text": text},
                                headers=self.headers(**headers))

    def list(self, **query: Any):
        return self.client.get("/api/v1/complaints", query_string=query, headers=self.headers())

    def report(self, **query: Any):
        return self.client.get("/api/v1/reports/complaints", query_string=query,
                               headers=self.headers("analyst"))

    def in_status(self, status: str, *, step: timedelta = timedelta(minutes=10),
                  **overrides: Any) -> dict[str, Any]:
        """A complaint brought to ``status`` by real actions, the clock moving ``step`` each."""
        complaint = self.opened(**overrides)
        for action in PATH_TO[status]:
            self.clock.now += step
            complaint = self.acted(complaint["id"], action)
        return complaint
