"""Loading and saving complaints: domain ``Complaint`` ⇄ rows, with compare-and-set writes.

Reads use Core statements (no ORM identity map), so a reload inside the same transaction
always sees the row as the database has it now. A complaint about to change is read with
``SELECT … FOR UPDATE`` (writers on one complaint queue; each sees the previous one's result),
and every write is ``UPDATE complaint SET … WHERE id = :id AND version = :loaded_version``:
should the row have changed anyway (a read without the lock, another code path), no row
matches and the caller learns it lost the race. On SQLite writers are serialised by
``BEGIN IMMEDIATE``.

Opening a complaint is the busiest write, and every opening queues for the one counter row
its number comes from, so on PostgreSQL the number is taken in the statement that writes the
complaint, its timeline entry and its event (:func:`insert_numbered`), the last before the
commit. SQLite, which has no data-modifying ``WITH`` and serialises writers anyway, takes
the number first (:func:`next_ref_number`), then writes (:func:`insert_complaint`).
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable, Mapping, NamedTuple, Sequence
from uuid import UUID

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from services.complaints.adapters.orm import (ComplaintRecord, KnownClientRecord,
                                              RefCounterRecord, TimelineEntryRecord, platform)
from services.complaints.domain.complaint import Complaint, TimelineEntry
from services.complaints.domain.events import format_instant
from services.complaints.domain.refs import MIN_DIGITS, PREFIX, format_ref
from shared.bus import outbox
from shared.clock import as_utc
from shared.db import UTCDateTime

COMPLAINTS = ComplaintRecord.__table__
TIMELINE = TimelineEntryRecord.__table__
REF_COUNTER = RefCounterRecord.__table__
CLIENTS = KnownClientRecord.__table__

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
    number = session.execute(_NEXT_NUMBER).scalar_one_or_none()
    if number is None:  # the migration seeds the row; be forgiving if someone removed it
        session.execute(insert(REF_COUNTER).values(id=1, last_number=1))
        return 1
    return int(number)


_NEXT_NUMBER = (update(REF_COUNTER).where(REF_COUNTER.c.id == 1)
                .values(last_number=REF_COUNTER.c.last_number + 1)
                .returning(REF_COUNTER.c.last_number))


class DirectoryEntry(NamedTuple):
    """What opening a complaint needs of the client's ``known_client`` row."""

    name: str | None
    tier: str | None
    status: str
    registered: bool


def directory_entry(session: Session, client_id: str, *, lock: bool = True
                    ) -> DirectoryEntry | None:
    """The client's directory entry, or ``None``: share-locked until the transaction ends (an
    erasure being applied meanwhile waits for this transaction, or comes first); ``lock=False``:
    a plain read, for a caller whose write checks the entry again (:func:`insert_numbered`'s
    ``checked``)."""
    row = session.execute(_ENTRY if lock else _ENTRY_UNLOCKED, {"client_id": client_id}).first()
    return None if row is None else DirectoryEntry(*row)


_ENTRY_UNLOCKED = (select(CLIENTS.c.name, CLIENTS.c.tier, CLIENTS.c.status, CLIENTS.c.registered)
                   .where(CLIENTS.c.id == bindparam("client_id")))
_ENTRY = _ENTRY_UNLOCKED.with_for_update(read=True)

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


_INSERTED_COLUMNS: tuple[str, ...] = (
    "id", "ref", "client_id", "client_tier", "opened_at", "created_by", "client_erased",
    "time_to_acknowledge_s", "time_to_resolve_s", *MUTABLE_COLUMNS)
_TIMELINE_COLUMNS = ("complaint_id", "at", "by", "action", "from_status", "to_status", "note",
                     "details")


def _complaint_values(complaint: Complaint, created_by: str) -> dict[str, Any]:
    values = _values(complaint, MUTABLE_COLUMNS)
    values.update(id=str(complaint.id), ref=complaint.ref, client_id=str(complaint.client_id),
                  client_tier=complaint.client_tier, opened_at=complaint.opened_at,
                  created_by=created_by, client_erased=False, **_derived(complaint))
    return values


def insert_complaint(session: Session, complaint: Complaint, *, created_by: str) -> list[int]:
    """Insert a new complaint and its timeline; the ids of its timeline entries, in order."""
    session.execute(insert(COMPLAINTS), _complaint_values(complaint, created_by))
    return insert_timeline(session, complaint.id, complaint.timeline)


def numbers_at_write(session: Session) -> bool:
    """Whether :func:`insert_numbered` can number, write and publish an opening in one
    statement here (PostgreSQL); else the caller takes :func:`next_ref_number` first."""
    return session.get_bind().dialect.name == "postgresql"


#: The number the domain's complaint carries until :func:`insert_numbered` has taken its own.
PROVISIONAL_NUMBER = 1
_PROVISIONAL_REF = f'"ref":"{format_ref(PROVISIONAL_NUMBER)}"'


class Numbered(NamedTuple):
    """What :func:`insert_numbered` took and wrote: the complaint's number, the id of its
    timeline entry and the event's envelope (its sequence set)."""

    number: int
    entry_id: int
    envelope: dict[str, Any]


def insert_numbered(session: Session, complaint: Complaint, *, created_by: str, service: str,
                    event_type: str, subject: str, data: Mapping[str, Any],
                    time: datetime, checked: DirectoryEntry | None = None) -> Numbered | None:
    """PostgreSQL: take the next complaint number, insert the complaint (its ``ref`` made of
    that number, whatever ``complaint.ref`` says) with its one timeline entry, and record its
    event (``data`` holding ``complaint.ref``, replaced there too) with ``NOTIFY`` — one
    statement, the last before the commit, so the counter row stays locked for as short a
    time as can be: every opening queues for it.

    ``checked``: the client's directory entry as the caller read it without a lock. The
    statement then share-locks the row and writes only if it still says exactly that (and the
    client may still complain); else it writes nothing and ``None`` is returned. Atomic on its
    own, so it may run outside a transaction: an erasure or a new tier being applied meanwhile
    either comes first (nothing is written) or waits for the statement."""
    if len(complaint.timeline) != 1:
        raise ValueError("a new complaint has exactly one timeline entry")
    envelope, params = outbox.event_parameters(service=service, event_type=event_type,
                                               subject=subject, data=data, time=time)
    at = params["body_tail"].index(_PROVISIONAL_REF) + len('"ref":"')
    params.update(body_mid=params["body_tail"][:at],
                  body_tail=params["body_tail"][at + len(complaint.ref):])
    params.update({f"c_{name}": value  # ``c_``: the complaint has a ``channel`` too
                   for name, value in _complaint_values(complaint, created_by).items()})
    entry = complaint.timeline[0]
    params.update(t_at=entry.at, t_by=entry.by, t_action=entry.action,
                  t_from_status=entry.from_status, t_to_status=entry.to_status,
                  t_note=entry.note, t_details=json.dumps(_json_safe(dict(entry.details))))
    if checked is not None:
        params.update(k_client_id=str(complaint.client_id), k_name=checked.name,
                      k_tier=checked.tier)
    row = session.execute(_open_statement(checked is not None), params).first()
    if row is None:
        if checked is None:
            raise RuntimeError("the opening statement wrote nothing")
        return None
    last_number, entry_id, sequence = row[0], row[1], row[2]
    return Numbered(int(last_number), int(entry_id),
                    outbox.event_recorded(session, envelope, sequence))


def _typed(table, name: str, parameter: str | None = None) -> str:
    """``:parameter`` cast to the column's PostgreSQL type, less any length (a cast would cut
    a value too long, where the insert refuses it): in ``INSERT … SELECT`` a NULL parameter
    is not typed by its target column."""
    from sqlalchemy.dialects import postgresql
    type_name = re.sub(r"\(\d+\)", "", table.c[name].type.compile(dialect=postgresql.dialect()))
    return f"CAST(:{parameter or name} AS {type_name})"


#: The client's directory row, still as read and still one a complaint may name, share-locked.
_CLIENT_CHECK = f"""client AS (
    SELECT 1 FROM {CLIENTS.name}
     WHERE id = :k_client_id AND registered AND status <> 'erased'
       AND name IS NOT DISTINCT FROM CAST(:k_name AS text)
       AND tier IS NOT DISTINCT FROM CAST(:k_tier AS text)
       FOR SHARE
), """


@lru_cache(maxsize=None)
def _open_statement(checked: bool = False):
    """:func:`insert_numbered`'s statement. The counter is upserted (the migration seeds its
    row; should someone have removed it, numbering starts again at 1 as it always did);
    ``checked``: only from the directory row ``_CLIENT_CHECK`` finds."""
    complaint_values = ", ".join(
        "ref.ref" if name == "ref" else _typed(COMPLAINTS, name, f"c_{name}")
        for name in _INSERTED_COLUMNS)
    entry_values = ", ".join(_typed(TIMELINE, name, f"t_{name}")
                             for name in _TIMELINE_COLUMNS if name != "complaint_id")
    first_number = "SELECT 1, 1 FROM client" if checked else "VALUES (1, 1)"
    return text(f"""
WITH {_CLIENT_CHECK if checked else ""}number AS (
    INSERT INTO complaint_ref_counter (id, last_number) {first_number}
    ON CONFLICT (id) DO UPDATE SET last_number = complaint_ref_counter.last_number + 1
    RETURNING last_number
), ref AS (
    SELECT '{PREFIX}' || lpad(last_number::text, greatest({MIN_DIGITS}, length(last_number::text)),
                         '0') AS ref
      FROM number
), opened AS (
    INSERT INTO complaint ({", ".join(_INSERTED_COLUMNS)})
    SELECT {complaint_values} FROM ref
    RETURNING id
), entry AS (
    INSERT INTO complaint_timeline ({", ".join(_TIMELINE_COLUMNS)})
    SELECT opened.id, {entry_values} FROM opened
    RETURNING id
), {outbox.event_ctes(platform, after="ref", body_tail=":body_mid || ref.ref || :body_tail")}
SELECT number.last_number, entry.id AS entry_id, numbered.last_value AS sequence,
       pg_notify(:channel, '')
  FROM number, entry, numbered, event
""").bindparams(bindparam("created_at", type_=UTCDateTime()))


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
                    entries: Sequence[TimelineEntry]) -> list[int]:
    """Append ``entries`` to the complaint's timeline; their ids, in order."""
    if not entries:
        return []
    return list(session.execute(
        insert(TIMELINE).returning(TIMELINE.c.id, sort_by_parameter_order=True), [{
            "complaint_id": str(complaint_id), "at": entry.at, "by": entry.by,
            "action": entry.action, "from_status": entry.from_status,
            "to_status": entry.to_status, "note": entry.note,
            "details": _json_safe(dict(entry.details)),
        } for entry in entries]).scalars())


def timeline_view(complaint_id: UUID | str, entries: Sequence[TimelineEntry],
                  ids: Sequence[int]) -> list[dict[str, Any]]:
    """The timeline entries just written, as :func:`load_timeline` would read them back."""
    return [{"id": entry_id, "complaint_id": str(complaint_id), "at": as_utc(entry.at),
             "by": entry.by, "action": entry.action, "from_status": entry.from_status,
             "to_status": entry.to_status, "note": entry.note,
             "details": _json_safe(dict(entry.details))}
            for entry, entry_id in zip(entries, ids)]


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
