"""Registry use cases for clients: load → call the domain → save → record events.

Each function runs inside the caller's unit of work (one SQLAlchemy session transaction), so
the change and its outbox event commit together or not at all.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from services.registry import records
from services.registry.adapters.orm import (ClientEventRecord, ClientRecord, ClientTagRecord,
                                            CommunicationPlanRecord, InteractionRecord, platform)
from services.registry.domain.clients import (engagement_gap, engagement_strategy,
                                              validate_client_fields)
from services.registry.domain.money import Money
from services.registry.domain.value import tier as tier_for
from services.registry.rules import RegistryRules
from shared.bus.outbox import record_event
from shared.db import get_or_not_found
from shared.erasure import forget_client
from shared.errors import Conflict
from shared.web.versioning import check_version

__all__ = ["RegistryRules", "register_client", "update_client", "archive_client", "erase_client",
           "get_client"]

SERVICE = "registry"
ERASED_NAME = "Erased client"
ERASED_TEXT = "(erased)"
PERSONAL_FIELDS = ("name", "contacts", "tags", "owner")
#: Fields of the registry's stored answers and events that hold personal data: the client's
#: profile, an interaction's summary, a plan's goal (blanked there on erasure).
PERSONAL_DATA = (*PERSONAL_FIELDS, "summary", "goal")
EDITABLE_FIELDS = ("name", "kind", "category", "contacts", "tags", "owner", "preferred_language",
                   "power", "interest", "engagement_current", "engagement_desired", "annual_value")


def client_fields(client: ClientRecord) -> dict[str, Any]:
    return {
        "name": client.name, "kind": client.kind, "category": client.category,
        "contacts": client.contacts, "tags": client.tags, "owner": client.owner,
        "preferred_language": client.preferred_language, "power": client.power,
        "interest": client.interest, "engagement_current": client.engagement_current,
        "engagement_desired": client.engagement_desired,
        "annual_value": annual_value(client),
    }


def annual_value(client: ClientRecord) -> dict[str, Any] | None:
    if client.annual_amount is None:
        return None
    return {"amount": Decimal(client.annual_amount), "currency": client.annual_currency}


def strategy_of(client: ClientRecord) -> str | None:
    return engagement_strategy(client.power, client.interest)


def gap_of(client: ClientRecord) -> int | None:
    return engagement_gap(client.engagement_current, client.engagement_desired)


def event_client(client: ClientRecord) -> dict[str, Any]:
    """The ``client`` object of ``client.registered`` / ``client.updated``."""
    return {
        "id": client.id, "name": client.name, "kind": client.kind, "category": client.category,
        "tier": client.tier, "tags": list(client.tags or []), "owner": client.owner,
        "preferred_language": client.preferred_language,
        "contacts": [{"name": c.get("name"), "email": c.get("email")} for c in client.contacts or []],
        "status": client.status,
        "annual_value": _money_out(client),
    }


def _money_out(client: ClientRecord) -> dict[str, str] | None:
    if client.annual_amount is None:
        return None
    return {"amount": f"{Decimal(client.annual_amount).quantize(Decimal('0.01'))}",
            "currency": client.annual_currency}


def _search_text(client: ClientRecord) -> str:
    parts = [client.name or ""]
    for contact in client.contacts or []:
        parts.extend(str(contact.get(key) or "") for key in ("name", "email", "phone", "role"))
    parts.extend(client.tags or [])
    return "\n".join(part for part in parts if part).casefold()


def _apply_fields(client: ClientRecord, fields: Mapping[str, Any], rules: RegistryRules) -> None:
    for name in EDITABLE_FIELDS:
        if name not in fields:
            continue
        value = fields[name]
        if name == "annual_value":
            if value is None:
                client.annual_amount, client.annual_currency = None, None
            else:
                money = Money.parse(value, rules.clients.currency)
                client.annual_amount, client.annual_currency = money.amount, money.currency
        elif name == "tags":
            client.tags = _unique(value or [])
        elif name == "contacts":
            client.contacts = [dict(contact) for contact in value or []]
        else:
            setattr(client, name, value)
    client.tier = tier_for(client.annual_amount, rules.value)
    client.search_text = _search_text(client)


def _unique(tags) -> list[str]:
    seen: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if tag and tag not in seen:
            seen.append(tag)
    return seen


def _sync_tags(session: Session, client: ClientRecord) -> None:
    session.execute(delete(ClientTagRecord).where(ClientTagRecord.client_id == client.id))
    for tag in client.tags or []:
        session.add(ClientTagRecord(client_id=client.id, tag=tag))


def _publish(session: Session, event_type: str, client: ClientRecord, data: Mapping[str, Any],
             now: datetime, event_id: str | None = None) -> None:
    record_event(session, platform, service=SERVICE, event_type=event_type, subject=client.id,
                 data=data, time=now, event_id=event_id)


def get_client(session: Session, client_id: str, *, for_update: bool = False) -> ClientRecord:
    return get_or_not_found(session, ClientRecord, client_id, "client", for_update=for_update)


def register_client(session: Session, fields: Mapping[str, Any], *, now: datetime,
                    rules: RegistryRules, client_id: str | None = None) -> ClientRecord:
    """Register a client; publishes ``client.registered``. Its value record starts here (the
    history's first entry names ``client.registered`` as its cause); no ``client.value.changed``
    is published, as ``client.registered`` already carries the tier."""
    fields = {"preferred_language": rules.default_language, **fields}
    validate_client_fields(fields, rules.clients)
    client = ClientRecord(id=client_id or str(uuid.uuid4()), status="active", version=1,
                          created_at=now, updated_at=now, contacts=[], tags=[], satisfaction=None,
                          health_score=Decimal(0), health_band="critical")
    _apply_fields(client, fields, rules)
    session.add(client)
    session.flush()
    _sync_tags(session, client)
    event_id = str(uuid.uuid4())
    records.record_annual_value(session, client, event_id=event_id,
                                event_type="client.registered", at=now)
    # Nothing known yet: S' = 70 and C = 100, so health is 0.6 × 70 + 0.4 × 100 = 82.0.
    records.refresh(session, client, now=now, rules=rules, cause=None, announce=False)
    _publish(session, "client.registered", client, {"client": event_client(client)}, now, event_id)
    return client


def update_client(session: Session, client_id: str, changes: Mapping[str, Any], *,
                  expected_version: int | None, now: datetime, rules: RegistryRules) -> ClientRecord:
    client = get_client(session, client_id, for_update=True)
    check_version(client.version, expected_version)
    if client.status == "erased":
        raise Conflict("An erased client cannot be changed.")
    merged = {**client_fields(client), **changes}
    validate_client_fields({key: merged[key] for key in merged if key in changes or key in ("kind", "category")},
                           rules.clients)
    before = client_fields(client)
    shown_before = records.shown_state(client)
    _apply_fields(client, changes, rules)
    after = client_fields(client)
    if after == before:
        return client  # nothing changed: no new version, no event
    client.version += 1
    client.updated_at = now
    _sync_tags(session, client)
    event_id = str(uuid.uuid4())
    _publish(session, "client.updated", client, {"client": event_client(client)}, now, event_id)
    if after["annual_value"] != before["annual_value"]:
        # The value record moves with the annual value; client.value.changed (if tier, health
        # score or band moved) names this client.updated as its cause.
        records.record_annual_value(session, client, event_id=event_id,
                                    event_type="client.updated", at=now)
        records.refresh(session, client, now=now, rules=rules,
                        cause={"event_id": event_id, "event_type": "client.updated"},
                        previous=shown_before, since=(now, event_id))
    return client


def archive_client(session: Session, client_id: str, *, expected_version: int | None,
                   now: datetime) -> ClientRecord:
    client = get_client(session, client_id, for_update=True)
    check_version(client.version, expected_version)
    if client.status == "erased":
        raise Conflict("An erased client cannot be archived.")
    if client.status == "archived":
        return client
    client.status = "archived"
    client.version += 1
    client.updated_at = now
    _publish(session, "client.archived", client, {"client_id": client.id}, now)
    return client


def erase_client(session: Session, client_id: str, *, expected_version: int | None,
                 now: datetime) -> ClientRecord:
    """Remove personal data, keep the client anonymously (its records stay consistent).

    Stored ``Idempotency-Key`` answers and outbox events about the client are scrubbed in the
    same transaction (``shared.erasure``); ``client.erased`` tells the other services."""
    client = get_client(session, client_id, for_update=True)
    check_version(client.version, expected_version)
    if client.status == "erased":
        return client
    client.name = ERASED_NAME
    client.contacts = []
    client.tags = []
    client.owner = None
    client.search_text = ""
    # Care records hold free text about the client: the plan goes, interactions stay as
    # anonymous dated contacts. The applied events keep their scores, severities and dates but
    # lose the survey comments; satisfaction and value records hold no personal data and stay.
    session.execute(delete(CommunicationPlanRecord).where(CommunicationPlanRecord.client_id == client.id))
    session.execute(update(InteractionRecord).where(InteractionRecord.client_id == client.id)
                    .values(summary=ERASED_TEXT))
    session.execute(update(ClientEventRecord).where(ClientEventRecord.client_id == client.id,
                                                    ClientEventRecord.comment.is_not(None))
                    .values(comment=None))
    # Requirements and change requests lose their free texts, keep status, dates and impact.
    from services.registry.requirements import PERSONAL_DATA as REQUIREMENT_TEXTS
    from services.registry.requirements import erase_client_requirements
    erase_client_requirements(session, client.id)
    client.status = "erased"
    client.erased_at = now
    client.version += 1
    client.updated_at = now
    _sync_tags(session, client)
    forget_client(session, platform, client.id,
                  personal_fields=(*PERSONAL_DATA, *REQUIREMENT_TEXTS))
    _publish(session, "client.erased", client, {"client_id": client.id}, now)
    return client
