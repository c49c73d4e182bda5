"""Survey data for the bench: a published survey with NPS, CSAT, CES and text questions, the
clients it may invite, and invitations with link tokens made in bulk (straight into the
service's tables, through its own SQLAlchemy tables, so the same code serves PostgreSQL and
SQLite)."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Sequence

from sqlalchemy import insert

from bench.support import now_utc

DEFINITION = {
    "title": {"zh-CN": "客户满意度调查", "en": "Client satisfaction survey"},
    "intro": {"zh-CN": "感谢您与我们合作。", "en": "Thank you for working with us."},
    "languages": ["zh-CN", "en"],
    "questions": [
        {"key": "nps", "type": "nps", "required": True, "weight": 2,
         "text": {"zh-CN": "您有多大可能向同事推荐我们？", "en": "How likely are you to recommend us?"}},
        {"key": "csat", "type": "csat", "required": True,
         "text": {"zh-CN": "您对我们的服务满意吗？", "en": "How satisfied are you with our service?"}},
        {"key": "ces", "type": "ces",
         "text": {"zh-CN": "解决问题有多容易？", "en": "How easy was it to get your issue handled?"}},
        {"key": "comment", "type": "text",
         "text": {"zh-CN": "还有什么想告诉我们的吗？", "en": "Anything else you would like to tell us?"}},
    ],
}


def canonical_definition() -> dict:
    """The definition as the service stores it (its own validation, canonical form)."""
    from services.survey.domain.definition import validate_survey_definition
    return validate_survey_definition(dict(DEFINITION)).to_dict()


def client_ids(count: int, seed: str = "client") -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"clientloop-bench/{seed}/{n}")) for n in range(count)]


def seed_survey(database, clients: Sequence[str], *, now: datetime | None = None) -> str:
    """A published survey and the clients it may invite (as learnt from the registry); its id."""
    from services.survey.adapters.orm import ClientEntry, SurveyRecord
    now = now or now_utc()
    survey_id = str(uuid.uuid4())
    with database.transaction() as session:
        session.execute(insert(SurveyRecord.__table__).values(
            id=survey_id, status="active", definition=canonical_definition(),
            send_after_complaint_resolved=False, version=2, created_by="bench",
            created_at=now - timedelta(days=1), updated_at=now - timedelta(days=1),
            published_at=now - timedelta(days=1)))
        session.execute(insert(ClientEntry.__table__), [
            {"id": client_id, "known": True, "name": f"Bench client {n}", "kind": "external",
             "category": "enterprise", "tier": "B", "preferred_language": "zh-CN",
             "contacts": [], "status": "active", "updated_at": now}
            for n, client_id in enumerate(clients)])
    return survey_id


def add_invitations(database, survey_id: str, clients: Sequence[str], count: int, *,
                    link_base: str = "http://127.0.0.1/survey") -> list[str]:
    """``count`` open invitations of the clients in turn, one link each; their tokens."""
    from services.survey.adapters.orm import InvitationLinkRecord, InvitationRecord
    now = now_utc()
    tokens = []
    for start in range(0, count, 5000):
        invitations, links = [], []
        for number in range(start, min(count, start + 5000)):
            invitation_id = str(uuid.uuid4())
            token = secrets.token_urlsafe(16)
            tokens.append(token)
            invitations.append({
                "id": invitation_id, "survey_id": survey_id,
                "client_id": clients[number % len(clients)], "language": "zh-CN",
                "created_at": now, "expires_at": now + timedelta(days=30), "created_by": "bench",
                "link_base": link_base, "delivery": "none", "delivery_status": "not_requested",
                "delivery_attempts": 0, "version": 1})
            links.append({"invitation_id": invitation_id,
                          "token_hash": hashlib.sha256(token.encode()).hexdigest(),
                          "issued_for": "answer", "created_at": now})
        with database.transaction() as session:
            session.execute(insert(InvitationRecord.__table__), invitations)
            session.execute(insert(InvitationLinkRecord.__table__), links)
    return tokens


def write_tokens(path: Path, tokens: Sequence[str]) -> Path:
    path.write_text("\n".join(tokens) + "\n")
    return path
