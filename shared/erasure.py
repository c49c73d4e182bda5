"""Erasure in the platform tables: what a service keeps besides its own records.

A service erases a client in its own tables (the registry's erase use case, the others on
``client.erased``) and, in the same transaction, calls :func:`forget_client`, which removes the
client's personal data from the two platform tables that copy it:

* **stored ``Idempotency-Key`` answers** (``idempotency_key``) that mention the client: the
  answer is scrubbed, not deleted, so a replay with the same key still answers the first answer
  (without the personal values) and creates nothing again. An answer that is not JSON is
  deleted.
* **outbox rows** whose subject is the client or whose body mentions it, sent or not: the
  envelope is scrubbed in place. An unsent row is still published — scrubbed — and keeps its
  place in its subject's order; a sent row is kept, scrubbed, so replay and backfill from the
  outbox keep the history (ids, sequences, scores, dates) without the person.
* **webhook deliveries** (``webhook_delivery``) of those events: their copy of the envelope is
  scrubbed the same way, so a retry or a pending delivery sends the scrubbed event.

Scrubbing is by field name: in every JSON object that concerns the client — its ``id``,
``client_id`` or ``subject`` is the client's id — and in everything nested inside it, each field
named in ``personal_fields`` is replaced by a value of the same JSON type that says nothing
(``"(erased)"``, ``[]``, ``{}``; ``null`` stays ``null``), so scrubbed events still match their
published schemas.
Each service names its own personal fields (those of the answers and events it makes), next
to its erase code.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Collection

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from shared.db import PlatformTables

#: What a personal text becomes (a placeholder rather than "": some schemas want text).
ERASED_TEXT = "(erased)"
#: Keys whose value names the object's subject; equal to the client's id → the object concerns it.
SUBJECT_KEYS = ("id", "client_id", "subject")


@dataclass(frozen=True)
class Forgotten:
    """How many platform rows an erasure changed."""

    answers_scrubbed: int = 0
    answers_deleted: int = 0
    events_scrubbed: int = 0
    deliveries_scrubbed: int = 0


def scrub(value: Any, client_id: str, personal_fields: Collection[str], *,
          concerned: bool = False) -> Any:
    """``value`` (decoded JSON) with the personal fields of everything about the client blanked."""
    if isinstance(value, dict):
        concerned = concerned or any(value.get(key) == client_id for key in SUBJECT_KEYS)
        return {key: _blank(item) if concerned and key in personal_fields
                else scrub(item, client_id, personal_fields, concerned=concerned)
                for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item, client_id, personal_fields, concerned=concerned) for item in value]
    return value


def _blank(value: Any) -> Any:
    """A value of the same JSON type that says nothing, so a scrubbed event fits its schema."""
    if isinstance(value, str):
        return ERASED_TEXT
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    return None


def _scrubbed_text(text: str, client_id: str, personal_fields: Collection[str]) -> str | None:
    """The scrubbed JSON text, or None when ``text`` is not JSON."""
    try:
        decoded = json.loads(text)
    except ValueError:
        return None
    cleaned = scrub(decoded, client_id, personal_fields)
    if cleaned == decoded:
        return text
    return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"))


def forget_client(session: Session, tables: PlatformTables, client_id: str, *,
                  personal_fields: Collection[str]) -> Forgotten:
    """Scrub the client from stored answers and outbox rows, in the caller's transaction."""
    client_id = str(client_id)
    fields = frozenset(personal_fields)
    answers_scrubbed, answers_deleted = _forget_answers(session, tables, client_id, fields)
    return Forgotten(answers_scrubbed=answers_scrubbed, answers_deleted=answers_deleted,
                     events_scrubbed=_forget_events(session, tables.outbox, client_id, fields),
                     deliveries_scrubbed=_forget_events(session, tables.webhook_delivery,
                                                        client_id, fields))


def _forget_answers(session: Session, tables: PlatformTables, client_id: str,
                    fields: frozenset[str]) -> tuple[int, int]:
    table = tables.idempotency_key
    rows = session.execute(select(table.c.id, table.c.response_body).where(
        table.c.response_body.contains(client_id, autoescape=True))).all()
    scrubbed = deleted = 0
    for row_id, body in rows:
        cleaned = _scrubbed_text(body, client_id, fields)
        if cleaned is None:
            session.execute(delete(table).where(table.c.id == row_id))
            deleted += 1
        elif cleaned != body:
            session.execute(update(table).where(table.c.id == row_id)
                            .values(response_body=cleaned))
            scrubbed += 1
    return scrubbed, deleted


def _forget_events(session: Session, table, client_id: str, fields: frozenset[str]) -> int:
    """Scrub the envelopes in ``table`` (the outbox, or the webhook deliveries' copies)."""
    rows = session.execute(select(table.c.id, table.c.body).where(or_(
        table.c.subject == client_id,
        table.c.body.contains(client_id, autoescape=True))).order_by(table.c.id)).all()
    scrubbed = 0
    for row_id, body in rows:
        cleaned = _scrubbed_text(body, client_id, fields)
        if cleaned is not None and cleaned != body:
            session.execute(update(table).where(table.c.id == row_id).values(body=cleaned))
            scrubbed += 1
    return scrubbed
