"""Read-side queries the API and the staff console share, so both show the same data.

* :func:`client_list` — the filtered, sorted client list as one SQL statement (paginated by the
  caller with ``LIMIT``/``OFFSET``, never loaded whole);
* :func:`ledger` / :func:`value_history` — a client's stored records, in order;
* :func:`open_complaints` — the client's open complaints one by one (ref, id, severity, since
  when, resolution deadline), folded from the complaint events the registry applied;
* :func:`feedback_received` — the survey responses the registry applied: when, the score, the
  comment, and what it did to satisfaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from services.registry.adapters.orm import (ClientEventRecord, ClientRecord, ClientTagRecord,
                                            SatisfactionEntryRecord, ValueHistoryRecord)
from services.registry.domain.events import SURVEY_RESPONSE_SUBMITTED
from services.registry.domain.open_complaints import OpenComplaint, open_complaint_list
from services.registry.records import stored_events
from shared.clock import as_utc

SORT_COLUMNS = {
    "name": ClientRecord.name, "created_at": ClientRecord.created_at,
    "updated_at": ClientRecord.updated_at, "annual_value": ClientRecord.annual_amount,
    "health_score": ClientRecord.health_score,
}
EQUAL_FILTERS = ("kind", "category", "tier", "health_band")


def like_pattern(text: str) -> str:
    """``%text%`` for ``LIKE … ESCAPE '\\'``, matching ``text`` literally (case-folded)."""
    needle = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{needle}%"


def client_list(filters: Mapping[str, Any], sort: str = "name") -> Select:
    """Clients matching ``filters`` (``status`` — default active, ``all`` for every one —,
    ``kind``, ``category``, ``tier``, ``health_band``, ``tag``, ``owner``, ``q`` searching
    names, contacts and tags), ordered by ``sort`` (a column name, ``-`` for descending)."""
    statement = select(ClientRecord)
    status = filters.get("status") or "active"
    if status != "all":
        statement = statement.where(ClientRecord.status == status)
    for name in EQUAL_FILTERS:
        if filters.get(name):
            statement = statement.where(getattr(ClientRecord, name) == filters[name])
    if filters.get("tag"):
        statement = statement.where(ClientRecord.id.in_(
            select(ClientTagRecord.client_id).where(ClientTagRecord.tag == filters["tag"])))
    if filters.get("owner"):
        statement = statement.where(func.lower(ClientRecord.owner) == filters["owner"].lower())
    if filters.get("q"):
        statement = statement.where(ClientRecord.search_text.like(like_pattern(filters["q"]),
                                                                  escape="\\"))
    column = SORT_COLUMNS[sort.lstrip("-")]
    order = column.desc() if sort.startswith("-") else column.asc()
    return statement.order_by(order, ClientRecord.id)


def ledger(session: Session, client_id: str, *, latest: int | None = None) -> list[dict[str, Any]]:
    """The satisfaction ledger in event-time order (only its ``latest`` entries if given)."""
    statement = select(SatisfactionEntryRecord).where(SatisfactionEntryRecord.client_id == client_id)
    if latest is not None:
        statement = statement.order_by(SatisfactionEntryRecord.position.desc()).limit(latest)
    else:
        statement = statement.order_by(SatisfactionEntryRecord.position)
    rows = session.execute(statement).scalars().all()
    entries = [{"event_id": row.event_id, "event_type": row.event_type,
                "occurred_at": as_utc(row.occurred_at), "delta": row.delta,
                "value": row.value, "reason": row.reason} for row in rows]
    return entries[::-1] if latest is not None else entries


def ledger_size(session: Session, client_id: str) -> int:
    return session.execute(select(func.count()).where(
        SatisfactionEntryRecord.client_id == client_id)).scalar_one()


def value_history(session: Session, client_id: str) -> list[ValueHistoryRecord]:
    return session.execute(select(ValueHistoryRecord)
                           .where(ValueHistoryRecord.client_id == client_id)
                           .order_by(ValueHistoryRecord.position)).scalars().all()


def open_complaints(session: Session, client_id: str) -> list[OpenComplaint]:
    return open_complaint_list(stored_events(session, client_id))


@dataclass(frozen=True)
class Feedback:
    """A survey response the registry applied: its score, its comment (None if it had none,
    or the client was erased) and what it did to satisfaction (``delta`` None for the first
    measure; no ledger entry at all for a response without a score)."""

    occurred_at: datetime
    score: Decimal | None
    delta: Decimal | None
    satisfaction: Decimal | None
    reason: str | None
    comment: str | None = None


def feedback_received(session: Session, client_id: str, *, latest: int = 10) -> list[Feedback]:
    """The client's latest ``latest`` survey responses, newest first."""
    entry = SatisfactionEntryRecord
    rows = session.execute(
        select(ClientEventRecord.occurred_at, ClientEventRecord.score, entry.delta, entry.value,
               entry.reason, ClientEventRecord.comment)
        .outerjoin(entry, (entry.client_id == ClientEventRecord.client_id)
                   & (entry.event_id == ClientEventRecord.event_id))
        .where(ClientEventRecord.client_id == client_id,
               ClientEventRecord.event_type == SURVEY_RESPONSE_SUBMITTED)
        .order_by(ClientEventRecord.occurred_at.desc(), ClientEventRecord.event_id.desc())
        .limit(latest)).all()
    return [Feedback(as_utc(row.occurred_at), None if row.score is None else Decimal(row.score),
                     row.delta, row.value, row.reason, row.comment) for row in rows]
