"""Complaint use cases: load → call the domain → save (compare-and-set) → record events.

Each function runs inside the caller's unit of work (one transaction), so a complaint's change,
its timeline entries and its outbox events commit together or not at all.

Concurrency: a complaint about to change is read with a row lock, so writers on one complaint
queue and each applies to the current version — two ``resolve`` requests at once: the second
sees ``resolved`` and is refused with 409 and the allowed actions; two ``assign`` requests
both apply, in turn. The write itself is a compare-and-set on ``version`` (see
``adapters.repository``); should it ever find the row changed, the request is retried on the
fresh row without ``If-Match`` and refused with 412 with ``If-Match``.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, Mapping
from uuid import UUID

from sqlalchemy import and_, or_
from sqlalchemy.orm import Session

from services.complaints.adapters import repository
from services.complaints.adapters.orm import platform
from services.complaints.adapters.repository import COMPLAINTS
from services.complaints.domain.complaint import Complaint, TimelineEntry, open_complaint
from services.complaints.domain.events import EVENT_BY_ACTION, DomainEvent
from services.complaints.domain.fields import validate_opening
from services.complaints.domain.refs import format_ref
from services.complaints.domain.rules import ComplaintRules
from services.complaints.domain.workflow import OPEN_STATUSES, Status
from shared.bus.outbox import record_event
from shared.errors import (Conflict, NotFound, StaleVersion, UnknownClient, ValidationFailed,
                           errors_of)
from shared.web.versioning import check_version

SERVICE = "complaints"
MAX_ATTEMPTS = 5
"""How often a write without ``If-Match`` is retried after losing a race."""

_ACTION_EVENTS = frozenset(EVENT_BY_ACTION.values())
_RUNNING = (Status.NEW, Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.ESCALATED)


@dataclass
class Changed:
    """A complaint after a use case, with the timeline entries it added."""

    complaint: Complaint
    entries: list[TimelineEntry]
    events: list[DomainEvent]
    entry_ids: list[int] = field(default_factory=list)
    """The ids of ``entries`` where the use case learnt them (opening)."""
    client_name: str | None = None
    """The client's name in the directory where the use case read it (opening)."""


def publish(session: Session, complaint: Complaint, events: list[DomainEvent]) -> None:
    for event in events:
        data = event.json_data()
        if event.type in _ACTION_EVENTS:
            data.setdefault("status", str(complaint.status))
        record_event(session, platform, service=SERVICE, event_type=event.type,
                     subject=str(event.subject), data=data, time=event.occurred_at)


# -- reading ----------------------------------------------------------------------------------

def get_complaint(session: Session, complaint_id: UUID | str) -> Complaint:
    complaint = repository.load_complaint(session, complaint_id)
    if complaint is None:
        raise NotFound(f"No complaint with id {complaint_id}.")
    return complaint


def overdue_clause(now: datetime):
    """SQL for ``Complaint.overdue`` (see ``domain.sla.overdue``)."""
    return or_(and_(COMPLAINTS.c.status == Status.NEW, COMPLAINTS.c.respond_by < now),
               and_(COMPLAINTS.c.status.in_([str(s) for s in _RUNNING]),
                    COMPLAINTS.c.resolve_by < now))


# -- opening ----------------------------------------------------------------------------------

def client_for_new_complaint(session: Session, client_id: str) -> repository.DirectoryEntry:
    """The directory entry of a client a new complaint may name.

    Unknown (or known only from a ``client.value.changed`` so far) → ``UnknownClient``
    (422 + Retry-After: the registration may still be on its way). Erased → 422. Archived
    clients may still complain: their records are kept and a former client's complaint is
    still a complaint. The directory row is read with a share lock, so an erasure being
    applied at the same moment either comes first (and this is refused) or waits for this
    complaint and then anonymises it too.
    """
    return _may_complain(repository.directory_entry(session, client_id), client_id)


def _may_complain(client: repository.DirectoryEntry | None,
                  client_id: str) -> repository.DirectoryEntry:
    if client is not None and client.status == "erased":
        raise ValidationFailed({"client_id": ["The client was erased; no new complaint can "
                                              "name them."]})
    if client is None or not client.registered:
        raise UnknownClient(client_id)
    return client


_OPENING_FIELDS = ("channel", "category", "severity", "title", "description", "remedy_sought",
                   "assignee")


def opening_errors(session: Session, fields: Mapping[str, Any],
                   rules: ComplaintRules) -> dict[str, list[str]]:
    """Everything wrong with a new complaint's fields, its client included, by field."""
    problems = _opening_problems(fields, rules)
    if fields.get("client_id") is not None:
        problems.update(errors_of(client_for_new_complaint, session, str(fields["client_id"])))
    return problems


def open_new_complaint(session: Session, fields: Mapping[str, Any], *, by: str, now: datetime,
                       rules: ComplaintRules) -> Changed:
    """Open a complaint: its client's directory entry (share-locked), then the complaint, its
    timeline and its ``complaint.opened`` event with the next number — on PostgreSQL in one
    statement that takes the number, so the counter every opening queues for is locked only
    from there to the commit."""
    problems = _opening_problems(fields, rules)
    client_id = str(fields["client_id"])
    try:
        client = client_for_new_complaint(session, client_id)
    except ValidationFailed as failed:
        if not problems:
            raise  # an unknown client alone keeps its Retry-After
        problems.update(failed.errors)
    if problems:
        raise ValidationFailed(problems)
    at_write = repository.numbers_at_write(session)
    number = repository.PROVISIONAL_NUMBER if at_write else repository.next_ref_number(session)
    complaint, events = _new_complaint(fields, client, number, by=by, now=now, rules=rules)
    if not at_write:
        entry_ids = repository.insert_complaint(session, complaint, created_by=by)
        publish(session, complaint, events)
        return Changed(complaint, list(complaint.timeline), events, entry_ids, client.name)
    return _insert_numbered(session, complaint, events, client, by=by,
                            checked=False)  # never None: unchecked, the statement writes


@dataclass
class Opening:
    """A complaint ready to be written by :func:`write_opening`: built from the fields and the
    client's directory entry as read (without a lock) by :func:`prepare_opening`."""

    complaint: Complaint
    events: list[DomainEvent]
    client: repository.DirectoryEntry
    by: str


def prepare_opening(connection, fields: Mapping[str, Any], *, by: str, now: datetime,
                    rules: ComplaintRules) -> Opening | None:
    """The first half of :func:`open_new_complaint` on PostgreSQL outside a transaction: the
    fields checked and the client's directory entry read without a lock (one statement, no
    write). ``None`` when the opening is not that simple — invalid fields, a client that may
    not complain or is not (yet) known: :func:`open_new_complaint` in a transaction says what
    to answer."""
    if _opening_problems(fields, rules):
        return None
    client = repository.directory_entry(connection, str(fields["client_id"]), lock=False)
    if client is None or client.status == "erased" or not client.registered:
        return None
    complaint, events = _new_complaint(fields, client, repository.PROVISIONAL_NUMBER, by=by,
                                       now=now, rules=rules)
    return Opening(complaint, events, client, by)


def write_opening(connection, opening: Opening) -> Changed | None:
    """The second half: the one statement that writes (``repository.insert_numbered``), atomic
    on its own, which writes only if the directory entry still says what was read; ``None``,
    with nothing written, when it does not."""
    return _insert_numbered(connection, opening.complaint, opening.events, opening.client,
                            by=opening.by, checked=True)


def _opening_problems(fields: Mapping[str, Any], rules: ComplaintRules) -> dict[str, list[str]]:
    return errors_of(validate_opening, **{name: fields.get(name) for name in _OPENING_FIELDS},
                     limits=rules.text_limits)


def _new_complaint(fields: Mapping[str, Any], client: repository.DirectoryEntry, number: int, *,
                   by: str, now: datetime, rules: ComplaintRules
                   ) -> tuple[Complaint, list[DomainEvent]]:
    return open_complaint(
        complaint_id=uuid.uuid4(), ref=format_ref(number), client_id=UUID(str(fields["client_id"])),
        client_tier=client.tier, channel=fields.get("channel"), category=fields.get("category"),
        severity=fields.get("severity"), title=fields.get("title"),
        description=fields.get("description"), remedy_sought=fields.get("remedy_sought"),
        assignee=fields.get("assignee"), by=by, now=now, rules=rules)


def _insert_numbered(session, complaint: Complaint, events: list[DomainEvent],
                     client: repository.DirectoryEntry, *, by: str, checked: bool
                     ) -> Changed | None:
    [event] = events
    numbered = repository.insert_numbered(
        session, complaint, created_by=by, service=SERVICE, event_type=event.type,
        subject=str(event.subject), data=event.json_data(), time=event.occurred_at,
        checked=client if checked else None)
    if numbered is None:
        return None
    complaint.ref = format_ref(numbered.number)
    event = replace(event, data={**event.data, "ref": complaint.ref})
    return Changed(complaint, list(complaint.timeline), [event], [numbered.entry_id],
                   client.name)


# -- changing ---------------------------------------------------------------------------------

def change_complaint(session: Session, complaint_id: UUID | str,
                     change: Callable[[Complaint], list[DomainEvent]], *,
                     expected_version: int | None) -> Changed:
    """Load, apply ``change``, compare-and-set; retried on a lost race without If-Match."""
    for _attempt in range(MAX_ATTEMPTS):
        complaint = repository.load_complaint(session, complaint_id, for_update=True)
        if complaint is None:
            raise NotFound(f"No complaint with id {complaint_id}.")
        check_version(complaint.version, expected_version)
        loaded_version = complaint.version
        events = change(complaint)
        if complaint.version == loaded_version:
            return Changed(complaint, [], [])  # nothing changed: no new version, no event
        entries = list(complaint.timeline)
        if repository.save_complaint(session, complaint, loaded_version=loaded_version,
                                     new_entries=entries):
            publish(session, complaint, events)
            return Changed(complaint, entries, events)
        if expected_version is not None:
            raise StaleVersion("The complaint changed while this request was applied; reload "
                               "it and retry.", current_version=loaded_version + 1)
    raise Conflict("The complaint is being changed by others right now; retry.")


def act(session: Session, complaint_id: UUID | str, action: Any, fields: Mapping[str, Any], *,
        by: str, now: datetime, rules: ComplaintRules,
        expected_version: int | None = None) -> Changed:
    return change_complaint(
        session, complaint_id,
        lambda complaint: complaint.act(action, fields, by, now, rules),
        expected_version=expected_version)


def add_note(session: Session, complaint_id: UUID | str, text: Any, *, by: str, now: datetime,
             rules: ComplaintRules, expected_version: int | None = None) -> Changed:
    def note(complaint: Complaint) -> list[DomainEvent]:
        complaint.add_note(text, by, now, rules)
        return []
    return change_complaint(session, complaint_id, note, expected_version=expected_version)


def correct(session: Session, complaint_id: UUID | str, changes: Mapping[str, Any], *, by: str,
            now: datetime, rules: ComplaintRules,
            expected_version: int | None = None) -> Changed:
    return change_complaint(
        session, complaint_id,
        lambda complaint: complaint.correct(changes, by, now, rules),
        expected_version=expected_version)


def preview_correction(session: Session, complaint_id: UUID | str, changes: Mapping[str, Any],
                       *, by: str, now: datetime, rules: ComplaintRules) -> Complaint:
    """The complaint as ``correct`` would leave it (deadlines recomputed), saving nothing:
    what the console shows before staff confirm a correction. Raises what ``correct`` would."""
    complaint = get_complaint(session, complaint_id)
    complaint.correct(changes, by, now, rules)
    return complaint


# -- periodic jobs ----------------------------------------------------------------------------

def breach_candidates(now: datetime):
    """SQL: complaints with a breach that happened and is not yet published."""
    c = COMPLAINTS.c
    response = and_(c.response_breach_published.is_(False), or_(
        and_(c.acknowledged_at.is_(None), c.respond_by < now),
        c.acknowledged_at > c.respond_by))
    resolution = and_(c.resolution_breach_published.is_(False), or_(
        and_(c.status.in_([str(s) for s in _RUNNING]), c.resolve_by < now),
        and_(c.status == Status.AWAITING_CLIENT, c.waiting_since > c.resolve_by),
        and_(c.status.in_([Status.RESOLVED.value, Status.CLOSED.value]),
             c.resolved_at > c.resolve_by)))
    return or_(response, resolution)


def auto_close_candidates(now: datetime, rules: ComplaintRules):
    c = COMPLAINTS.c
    return and_(c.status == Status.RESOLVED, c.resolved_at <= now - rules.auto_close_after)


def run_complaint_jobs(database, now: datetime, rules: ComplaintRules) -> dict[str, int]:
    """Publish due SLA breaches (once per complaint and kind) and close resolved complaints
    nobody reopened within ``auto_close_after``. Each complaint in its own transaction; one
    that someone changes meanwhile is simply picked up by the next pass."""
    counts = {"breaches": 0, "closed": 0}
    jobs = (
        ("breaches", breach_candidates(now), lambda c: c.record_breaches(now)),
        ("closed", auto_close_candidates(now, rules), lambda c: c.auto_close(now, rules)),
    )
    for name, condition, change in jobs:
        last_id = ""
        while True:
            with database.transaction() as session:
                ids = repository.ids_where(session, condition, after=last_id)
            if not ids:
                break
            last_id = ids[-1]
            for complaint_id in ids:
                try:
                    with database.transaction() as session:
                        changed = change_complaint(session, complaint_id, change,
                                                   expected_version=None)
                except (Conflict, NotFound):
                    continue
                counts[name] += (len(changed.events) if name == "breaches"
                                 else int(bool(changed.entries)))
    return counts


def open_statuses() -> list[str]:
    return [str(status) for status in OPEN_STATUSES]
