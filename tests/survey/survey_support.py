"""Builders for the survey service's integration tests: surveys, clients, invitations, events.

Clients reach the survey service only as registry events, so ``learn_client`` delivers a
``client.registered`` through the service's own handlers (and the platform's inbox), exactly as
the consumer would.
"""
from __future__ import annotations

import copy
import itertools
import json
import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from services.survey.app import event_handlers
from shared.bus.consumer import apply_once
from shared.bus.envelope import Event, format_sequence

HOSTILE = "<script>alert('x')</script>"

EVERY_TYPE = {
    "title": {"zh-CN": "客户满意度调查", "en": "Client satisfaction survey"},
    "intro": {"zh-CN": "只需三分钟。", "en": "It takes three minutes."},
    "languages": ["zh-CN", "en"],
    "questions": [
        {"key": "recommend", "type": "nps", "required": True, "weight": 2,
         "text": {"zh-CN": "您有多大可能推荐我们？", "en": "How likely are you to recommend us?"}},
        {"key": "satisfied", "type": "csat", "required": True,
         "text": {"zh-CN": "您对我们的服务满意吗？", "en": "How satisfied are you with our service?"}},
        {"key": "effort", "type": "ces",
         "text": {"zh-CN": "办事有多容易？", "en": "How easy was it?"}},
        {"key": "quality", "type": "rating", "scale": 5,
         "text": {"zh-CN": "请为交付质量打分。", "en": "Rate our delivery quality."}},
        {"key": "value", "type": "single_choice",
         "text": {"zh-CN": "性价比如何？", "en": "Value for money?"},
         "options": [{"key": "poor", "score": 0, "label": {"zh-CN": "较差", "en": "Poor"}},
                     {"key": "fair", "score": 50, "label": {"zh-CN": "一般", "en": "Fair"}},
                     {"key": "good", "score": 100, "label": {"zh-CN": "很好", "en": "Good"}}]},
        {"key": "improve", "type": "multi_choice",
         "text": {"zh-CN": "我们应改进什么？", "en": "What should we improve?"},
         "options": [{"key": "speed", "label": {"zh-CN": "速度", "en": "Speed"}},
                     {"key": "price", "label": {"zh-CN": "价格", "en": "Price"}},
                     {"key": "communication", "label": {"zh-CN": "沟通", "en": "Communication"}}]},
        {"key": "comment", "type": "text",
         "text": {"zh-CN": "还有什么想说的？", "en": "Anything else?"}},
    ],
}

FULL_ANSWERS = {"recommend": 9, "satisfied": 4, "effort": 6, "quality": 4, "value": "good",
                "improve": ["speed", "communication"], "comment": "很好 good"}

_sequence = itertools.count(1)


def survey_fields(**overrides: Any) -> dict[str, Any]:
    fields = copy.deepcopy(EVERY_TYPE)
    fields.update(overrides)
    return fields


def client_event(event_type: str, client_id: str, data: dict[str, Any], *,
                 sequence: int | None = None, time: datetime | None = None) -> Event:
    return Event(id=str(uuid.uuid4()), type=event_type, source="clientloop/registry",
                 subject=client_id, time=time or datetime.now(timezone.utc),
                 sequence=format_sequence(sequence if sequence is not None else next(_sequence)),
                 data=data)


def client_data(client_id: str, *, name: str = "Acme 华为", language: str = "en",
                email: str | None = None, kind: str = "external", category: str = "enterprise",
                tier: str | None = "B", status: str = "active") -> dict[str, Any]:
    contacts = [{"name": f"{name} contact", "email": email}] if email else []
    return {"client": {"id": client_id, "name": name, "kind": kind, "category": category,
                       "tier": tier, "tags": [], "owner": "li.wei", "preferred_language": language,
                       "contacts": contacts, "status": status}}


def deliver(ctx, event: Event) -> bool:
    """Handle one event as the consumer does (inbox + handler in one transaction)."""
    handler = event_handlers(ctx)[event.type]
    return apply_once(ctx.database, ctx.tables, handler, event, now=ctx.clock())


def learn_client(ctx, client_id: str | None = None, **fields: Any) -> str:
    client_id = client_id or str(uuid.uuid4())
    deliver(ctx, client_event("client.registered", client_id, client_data(client_id, **fields)))
    return client_id


def create_survey(http, headers, **overrides: Any) -> dict[str, Any]:
    response = http.post("/api/v1/surveys", headers=headers, json=survey_fields(**overrides))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def active_survey(http, headers, **overrides: Any) -> dict[str, Any]:
    survey = create_survey(http, headers, **overrides)
    response = http.post(f"/api/v1/surveys/{survey['id']}/publish", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def invite(http, headers, survey_id: str, client_id: str, **extra: Any) -> dict[str, Any]:
    response = http.post(f"/api/v1/surveys/{survey_id}/invitations", headers=headers,
                         json={"client_id": client_id, **extra})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["items"][0]


def token_of(url: str) -> str:
    return url.rsplit("/s/", 1)[1]


def outbox(ctx, event_type: str | None = None) -> list[dict[str, Any]]:
    table = ctx.tables.outbox
    statement = select(table.c.body).order_by(table.c.id)
    if event_type:
        statement = statement.where(table.c.event_type == event_type)
    with ctx.database.transaction() as session:
        return [json.loads(body) for body in session.execute(statement).scalars()]
