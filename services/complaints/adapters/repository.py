"""Loading and saving complaints: domain ``Complaint`` ⇄ rows, with compare-and-set writes.

Reads use Core statements (no ORM identity map), so a reload inside the same transaction
always sees the row as the database has it now. A complaint about to change is read with
``SELECT … FOR UPDATE`` (writers on one complaint queue; each sees the previous one's result),
and every write is ``UPDATE complaint SET … WHERE id = :id AND version = :loaded_version``:
should the row have changed anyway (a read without the lock, another code path), no row
matches and the caller learns it lost the race. On SQLite writers are serialised by
``BEGIN IMMEDIATE``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence
from uuid import UUID

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from services.complaints.adapters.orm import (ComplaintRecord, RefCounterRecord,
                                              TimelineEntryRecord)
from services.complaints.domain.complaint import Complaint, TimelineEntry
from services.complaints.domain.events import format_instant
from shared.clock import as_utc

COMPLAINTS = ComplaintRecord.__table__
TIMELINE = TimelineEntryRecord.__table__
REF_COUNTER = RefCounterRecord.__table__

_TIMES = ("opened_at", "respond_by", "resolve_by", "acknowledged_at", "resolved_at",
          "closed_at", "waiting_since", "updated_at")

MUTABLE_COLUMNS: tuple[str, ...] = (
    "channel", "category", "severity", "title", "description", "remedy_sought", "assignee",
    "status", "respond_by", "resolve_by", "acknowledged_at", "resolved_at", "closed_at",
    "resolution_code", "root_cause", "resolution_summary", "client_accepted", "waiting_since",
    "waiting_s", "pause_extension_s", "response_breach_published",
    "resolution_breach_published", "reopen_count", "version", "updated_at",
)
"""What an action, a note, a correction or a job may change (never id, ref, client, opening)."""


def next_ref_number(session: Session) -> int:
    """The next complaint number, taken inside the caller's transaction.

    The counter row stays locked until the transaction ends, so concurrent openings queue
    for it and a rolled-back opening gives its number back: numbers are unique, sequential
    and without gaps.
    """
    statement = (update(REF_COUNTER).where(REF_COUNTER.c.id == 1)
                 .values(last_number=REF_COUNTER.c.last_number + 1)
                 .returning(REF_COUNTER.c.last_number))
    number = session.execute(statement).scalar_one_or_none()
    if number is None:  # the migration seeds the row; be forgiving if someone removed it
        session.execute(insert(REF_COUNTER).values(id=1, last_number=1))
        return 1
    return int(number)


def _json_safe(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def _derived(complaint: Complaint) -> dict[str, Any]:
    return {"time_to_acknowledge_s": complaint.time_to_acknowledge_s,
            "time_to_resolve_s": complaint.time_to_resolve_s}


def _values(complaint: Complaint, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(complaint, name) for name in names}


def insert_complaint(session: Session, complaint: Complaint, *, created_by: str) -> None:
    values = _values(complaint, MUTABLE_COLUMNS)
    values.update(id=str(complaint.id), ref=complaint.ref, client_id=str(complaint.client_id),
                  client_tier=complaint.client_tier, opened_at=complaint.opened_at,
                  created_by=created_by, client_erased=False, **_derived(complaint))
    session.execute(insert(COMPLAINTS).values(**values))
    insert_timeline(session, complaint.id, complaint.timeline)


def save_complaint(session: Session, complaint: Complaint, *, loaded_version: int,
                   new_entries: Sequence[TimelineEntry]) -> bool:
    """Compare-and-set: write ``complaint`` only if the row is still at ``loaded_version``.

    Returns False (and writes nothing) when someone else changed it first.
    """
    statement = (update(COMPLAINTS)
                 .where(COMPLAINTS.c.id == str(complaint.id),
                        COMPLAINTS.c.version == loaded_version)
                 .values(**_values(complaint, MUTABLE_COLUMNS), **_derived(complaint)))
    if session.execute(statement).rowcount != 1:
        return False
    insert_timeline(session, complaint.id, new_entries)
    return True


def insert_timeline(session: Session, complaint_id: UUID | str,
                    entries: Sequence[TimelineEntry]) -> None:
    if not entries:
        return
    session.execute(insert(TIMELINE), [{
        "complaint_id": str(complaint_id), "at": entry.at, "by": entry.by,
        "action": entry.action, "from_status": entry.from_status, "to_status": entry.to_status,
        "note": entry.note, "details": _json_safe(dict(entry.details)),
    } for entry in entries])


def complaint_from_row(row: Any) -> Complaint:
    """A domain complaint from a ``complaint`` row (a Core row or a ``ComplaintRecord``)."""
    values = {name: getattr(row, name) for name in MUTABLE_COLUMNS}
    for name in _TIMES:
        if name in values:
            values[name] = as_utc(values[name])
    return Complaint(id=UUID(row.id), ref=row.ref, client_id=UUID(row.client_id),
                     client_tier=row.client_tier, opened_at=as_utc(row.opened_at), **values)


def load_row(session: Session, complaint_id: UUID | str, *, for_update: bool = False):
    """The ``complaint`` row as the database has it now, or ``None``.

    ``for_update`` locks the row until the transaction ends (PostgreSQL; SQLite serialises
    writers anyway), so concurrent changes queue and each sees its predecessor's result.
    """
    statement = select(COMPLAINTS).where(COMPLAINTS.c.id == str(complaint_id))
    if for_update:
        statement = statement.with_for_update()
    return session.execute(statement).first()


def load_complaint(session: Session, complaint_id: UUID | str, *,
                   for_update: bool = False) -> Complaint | None:
    """The complaint as it is now (timeline not loaded: actions only append to it)."""
    row = load_row(session, complaint_id, for_update=for_update)
    return None if row is None else complaint_from_row(row)


def load_timeline(session: Session, complaint_id: UUID | str) -> list[dict[str, Any]]:
    rows = session.execute(select(TIMELINE).where(TIMELINE.c.complaint_id == str(complaint_id))
                           .order_by(TIMELINE.c.id)).mappings().all()
    return [{**row, "at": as_utc(row["at"])} for row in rows]


def ids_where(session: Session, *conditions, after: str = "", limit: int = 200) -> list[str]:
    """Ids of complaints matching ``conditions``, in id order, after ``after`` (keyset)."""
    statement = (select(COMPLAINTS.c.id).where(COMPLAINTS.c.id > after, *conditions)
                 .order_by(COMPLAINTS.c.id).limit(limit))
    return list(session.execute(statement).scalars())
