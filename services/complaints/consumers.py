"""Registry events this service handles: its local client directory (``known_client``).

The service never calls the registry; it learns which clients exist, their tier and whether
they were archived or erased from ``client.registered``, ``client.updated``,
``client.value.changed``, ``client.archived`` and ``client.erased``. ``client.value.changed``
comes with every complaint the registry applies, so its handler also takes several at once
(``apply_many``: the runner's batches of what the broker already delivered).

Every handler is idempotent (the runner's inbox also skips a redelivered event id) and correct
whatever the delivery order: each attribute group keeps the time of the event it came from and
only a newer (or equally recent) event replaces it; ``erased`` is final. A
``client.value.changed`` that arrives before ``client.registered`` creates the entry with the
tier and waits for the registration, which then fills in the rest without touching the newer
tier.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, Callable, Mapping
from uuid import UUID

from sqlalchemy import bindparam, case, or_, select, update
from sqlalchemy.orm import Session

from services.complaints.adapters.orm import KnownClientRecord, platform
from services.complaints.adapters.repository import COMPLAINTS, TIMELINE
from shared.bus.envelope import Event
from shared.clock import as_utc
from shared.erasure import forget_client

ACTIVE, ARCHIVED, ERASED = "active", "archived", "erased"
STATUSES = (ACTIVE, ARCHIVED, ERASED)
TIERS = ("A", "B", "C")

#: Fields of the complaints' stored answers and events that hold personal data (blanked there
#: on erasure): the complaint's own texts and every free-text note, reason and summary.
PERSONAL_DATA = ("name", "client_name", "title", "description", "remedy_sought",
                 "resolution_summary", "summary", "reason", "note")
_REDACTED_DETAILS = ("reason", "summary", "note")
"""Free-text fields of timeline details that may hold personal data."""
_REDACTED_NOTES = ("note", "escalate", "wait", "resolve", "reopen")
"""Timeline actions whose ``note`` is free text written about the case. The others are
generated ("Assigned to …", "The client accepted …", "Title corrected …") and are kept unless
staff added a note of their own to the action."""


class MalformedClientEvent(ValueError):
    """A registry event without the fields this handler needs (retried, then dead-lettered)."""


def _client_id(value: Any) -> str:
    try:
        return str(UUID(value))
    except (TypeError, ValueError, AttributeError):
        raise MalformedClientEvent(f"not a client id: {value!r}") from None


def _is_newer(moment: datetime, known: datetime | None) -> bool:
    return known is None or moment >= as_utc(known)


def _entry(session: Session, client_id: str, at: datetime, *,
           locked: bool = False) -> KnownClientRecord:
    """The client's directory entry, row-locked (``locked``: the caller locked it already
    in this transaction, :func:`_lock_entries`), created if this service does not know it."""
    client = session.get(KnownClientRecord, client_id,
                         with_for_update=None if locked else True)
    if client is None:
        client = KnownClientRecord(id=client_id, name=None, tier=None, status=ACTIVE,
                                   registered=False, last_event_at=at)
        session.add(client)
    client.last_event_at = max(as_utc(client.last_event_at), at)
    return client


def _set_tier(client: KnownClientRecord, tier: Any, at: datetime) -> None:
    if tier not in (*TIERS, None):
        raise MalformedClientEvent(f"unknown tier {tier!r}")
    if _is_newer(at, client.tier_at):
        client.tier, client.tier_at = tier, at


def _set_status(session: Session, client: KnownClientRecord, status: str, at: datetime,
                now: datetime) -> None:
    if status == ERASED:
        erase(session, client, at, now)
    elif client.status != ERASED and _is_newer(at, client.status_at):
        client.status, client.status_at = status, at


def on_client_profile(now: Callable[[], datetime]):
    """``client.registered`` / ``client.updated``: the whole client as it is at that time."""

    def handle(session: Session, event: Event) -> None:
        data = event.data.get("client")
        if not isinstance(data, Mapping):
            raise MalformedClientEvent("data.client is missing")
        client = _entry(session, _client_id(data.get("id", event.subject)), event.time)
        client.registered = True
        if client.status != ERASED and _is_newer(event.time, client.profile_at):
            name = data.get("name")
            client.name = name if isinstance(name, str) else None
            client.profile_at = event.time
        if "tier" in data:
            _set_tier(client, data["tier"], event.time)
        status = data.get("status", ACTIVE)
        if status not in STATUSES:
            raise MalformedClientEvent(f"unknown status {status!r}")
        _set_status(session, client, status, event.time, now())

    return handle


def on_value_changed(session: Session, event: Event) -> None:
    """``client.value.changed``: the client's tier (other value fields are not needed here).

    A known client's entry is changed by one ``UPDATE`` that takes the tier only if the event
    is newer than the tier's own time and moves ``last_event_at`` on, comparing in the
    statement as :func:`_set_tier` and :func:`_entry` compare in Python (one statement where
    loading the entry and writing it back took two, and no ORM object made). An unknown client,
    or an entry this session already holds as an object, takes the ORM path, which creates the
    entry or keeps the object right."""
    client_id = _client_id(event.data.get("client_id", event.subject))
    tier = event.data.get("tier")
    if tier not in (*TIERS, None):
        raise MalformedClientEvent(f"unknown tier {tier!r}")
    held = session.identity_map.get(session.identity_key(KnownClientRecord, client_id))
    if held is None and session.execute(_value_change_statement(), {
            "client_id": client_id, "tier": tier, "at": as_utc(event.time)}).rowcount == 1:
        return
    _value_changed(session, event, locked=False)


@lru_cache(maxsize=1)
def _value_change_statement():
    """``UPDATE known_client``: the tier and its time if ``:at`` is as new as the tier's time or
    newer, ``last_event_at`` the later of the two (each ``SET`` reads the row as it was)."""
    table = KnownClientRecord.__table__
    at = bindparam("at", type_=table.c.tier_at.type)
    newer = or_(table.c.tier_at.is_(None), table.c.tier_at <= at)
    return (update(table).where(table.c.id == bindparam("client_id"))
            .values(tier=case((newer, bindparam("tier", type_=table.c.tier.type)),
                              else_=table.c.tier),
                    tier_at=case((newer, at), else_=table.c.tier_at),
                    last_event_at=case((table.c.last_event_at < at, at),
                                       else_=table.c.last_event_at)))


def _value_changed(session: Session, event: Event, *, locked: bool) -> None:
    client = _entry(session, _client_id(event.data.get("client_id", event.subject)), event.time,
                    locked=locked)
    _set_tier(client, event.data.get("tier"), event.time)


def _apply_value_changes(session: Session, events: list[Event]) -> None:
    """Several ``client.value.changed`` in one transaction (the runner's batches: every
    complaint the registry applies is followed by one): the entries locked in client id
    order with one statement — two consumers never deadlock — then each event as alone."""
    held = _lock_entries(session, [_client_id(event.data.get("client_id", event.subject))
                                   for event in events])
    for event in events:
        _value_changed(session, event, locked=True)
    del held


on_value_changed.apply_many = _apply_value_changes


def _lock_entries(session: Session, client_ids: list[str]) -> list[KnownClientRecord]:
    """Row-lock the directory entries of ``client_ids`` that exist, in id order, and load
    them (fresh) into the session for :func:`_entry` with ``locked``; the caller holds on to
    the list while it uses them (the session keeps only weak references)."""
    entries = KnownClientRecord
    return session.execute(select(entries).where(entries.id.in_(sorted(set(client_ids))))
                           .order_by(entries.id).with_for_update()
                           .execution_options(populate_existing=True)).scalars().all()


def on_archived(now: Callable[[], datetime]):
    def handle(session: Session, event: Event) -> None:
        client = _entry(session, _client_id(event.data.get("client_id", event.subject)),
                        event.time)
        _set_status(session, client, ARCHIVED, event.time, now())
    return handle


def on_erased(now: Callable[[], datetime]):
    def handle(session: Session, event: Event) -> None:
        client = _entry(session, _client_id(event.data.get("client_id", event.subject)),
                        event.time)
        erase(session, client, event.time, now())
    return handle


def erase(session: Session, client: KnownClientRecord, at: datetime, now: datetime) -> None:
    """Forget the client's personal data here; keep its complaints as anonymous records.

    In the directory: no name, status ``erased`` (final). In its complaints: title replaced
    by the reference, description, remedy sought and resolution summary removed, free-text
    timeline notes and reasons removed (category, severity, dates, resolution code and root
    cause stay for the analysis). Stored ``Idempotency-Key`` answers that echo the client's
    complaints and outbox events about the client, sent or not, are scrubbed of those texts
    (``shared.erasure``).
    """
    client.status, client.status_at = ERASED, at
    client.erased_at = client.erased_at or at
    client.name = None
    session.flush()
    c = COMPLAINTS.c
    refs = dict(session.execute(select(c.id, c.ref).where(c.client_id == client.id)).all())
    for complaint_id, ref in refs.items():
        session.execute(update(COMPLAINTS).where(c.id == complaint_id).values(
            title=f"Complaint {ref}", description="", remedy_sought=None,
            resolution_summary=None, client_erased=True, version=c.version + 1,
            updated_at=now))
    if refs:
        _redact_timeline(session, list(refs))
    forget_client(session, platform, client.id, personal_fields=PERSONAL_DATA)


def _redact_timeline(session: Session, complaint_ids: list[str]) -> None:
    rows = session.execute(select(TIMELINE.c.id, TIMELINE.c.action, TIMELINE.c.note,
                                  TIMELINE.c.details)
                           .where(TIMELINE.c.complaint_id.in_(complaint_ids))).all()
    for row in rows:
        details = dict(row.details or {})
        staff_note = bool(details.get("note"))
        for name in _REDACTED_DETAILS:
            if details.get(name) is not None:
                details[name] = None
        for name in ("title", "description"):
            if isinstance(details.get(name), Mapping):
                details[name] = {"from": None, "to": None}
        note = None if row.action in _REDACTED_NOTES or staff_note else row.note
        if details != (row.details or {}) or note != row.note:
            session.execute(update(TIMELINE).where(TIMELINE.c.id == row.id)
                            .values(note=note, details=details))


def handlers(now: Callable[[], datetime]) -> dict[str, Callable[[Session, Event], None]]:
    profile = on_client_profile(now)
    return {
        "client.registered": profile,
        "client.updated": profile,
        "client.value.changed": on_value_changed,
        "client.archived": on_archived(now),
        "client.erased": on_erased(now),
    }
