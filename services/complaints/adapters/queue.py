"""The staff console's reads: the complaint queue and the local client directory.

* :func:`queue_page`: complaints matching the queue's filters, sorted by the **next deadline**
  — ``respond_by`` while the complaint is not acknowledged, else ``resolve_by`` — with the
  complaints whose clock runs first, the paused ones (``awaiting_client``) after them and the
  finished ones (resolved, closed) last; one page at a time (``LIMIT/OFFSET`` and a count),
  each row with the client's name from the directory.
* :func:`search_clients` / :func:`client_entry`: the clients a complaint may name, from the
  directory this service keeps from registry events (never a call to the registry);
  :func:`client_names`: the names shown with complaints (none for an erased client).
* :func:`text_search`: the text search of the queue (ref, title, client name) and of the API's
  list (also the description).

Text search matches case-insensitively, as a plain substring (the characters ``%`` and ``_``
mean themselves). Case is folded by the database's ``lower()``: every alphabet on PostgreSQL,
ASCII letters only on SQLite.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from services.complaints.adapters.orm import KnownClientRecord
from services.complaints.adapters.repository import COMPLAINTS
from services.complaints.domain.workflow import OPEN_STATUSES, Status

c = COMPLAINTS.c
CLIENTS = KnownClientRecord.__table__
OPEN = "open"
"""The queue's default status filter: every status still being handled."""
ANY = "any"
_RUNNING = [str(s) for s in (Status.NEW, Status.ACKNOWLEDGED, Status.IN_PROGRESS,
                             Status.ESCALATED)]


@dataclass(frozen=True)
class QueueFilters:
    """What the queue shows; ``None`` means "no filter" (``status`` defaults to open)."""

    status: str = OPEN
    severity: str | None = None
    category: str | None = None
    assignee: str | None = None
    overdue: bool = False
    text: str | None = None


def next_deadline():
    """SQL: the deadline the complaint is racing now (``respond_by`` until acknowledged)."""
    return case((c.acknowledged_at.is_(None), c.respond_by), else_=c.resolve_by)


def _urgency_group():
    """0: the clock runs; 1: paused (awaiting the client); 2: resolved or closed."""
    return case((c.status.in_(_RUNNING), 0), (c.status == Status.AWAITING_CLIENT, 1), else_=2)


def _matching(filters: QueueFilters, now: datetime) -> list[Any]:
    conditions: list[Any] = []
    if filters.status == OPEN:
        conditions.append(c.status.in_([str(s) for s in OPEN_STATUSES]))
    elif filters.status != ANY:
        conditions.append(c.status == filters.status)
    for name in ("severity", "category", "assignee"):
        value = getattr(filters, name)
        if value:
            conditions.append(getattr(c, name) == value)
    if filters.overdue:
        from services.complaints.service import overdue_clause  # the API's own definition
        conditions.append(overdue_clause(now))
    if filters.text:
        conditions.append(text_search(filters.text))
    return conditions


def text_search(text: str, *, description: bool = False):
    """SQL: ``text`` (trimmed) occurs in the complaint's reference, title, client name (from
    the directory; an erased client has none) or, with ``description``, its description;
    case-insensitive, ``%`` and ``_`` taken literally."""
    text = text.strip()
    named = select(CLIENTS.c.id).where(CLIENTS.c.name.icontains(text, autoescape=True))
    fields = [c.ref, c.title, *([c.description] if description else [])]
    return or_(*[field.icontains(text, autoescape=True) for field in fields],
               c.client_id.in_(named))


def queue_page(session: Session, filters: QueueFilters, now: datetime, *, page: int,
               per_page: int) -> tuple[list[dict[str, Any]], int]:
    """One page of the queue (rows as mappings: the complaint's columns, ``client_name``,
    ``next_deadline``) and the number of complaints matching.

    The page's complaints are picked from the complaint table alone (sorted, ``LIMIT`` /
    ``OFFSET``); only those are then joined with the directory for their client's name."""
    conditions = _matching(filters, now)
    total = session.execute(select(func.count()).select_from(COMPLAINTS).where(*conditions)
                            ).scalar_one()
    urgency, deadline = _urgency_group(), next_deadline()
    picked = (select(c.id.label("picked_id"), urgency.label("urgency"),
                     deadline.label("next_deadline"))
              .where(*conditions).order_by(urgency, deadline, c.ref)
              .limit(per_page).offset((page - 1) * per_page).subquery())
    statement = (select(c.id, c.ref, c.title, c.status, c.severity, c.category, c.channel,
                        c.assignee, c.opened_at, c.respond_by, c.resolve_by, c.acknowledged_at,
                        c.client_id, CLIENTS.c.name.label("client_name"),
                        picked.c.next_deadline)
                 .select_from(picked.join(COMPLAINTS, c.id == picked.c.picked_id)
                              .outerjoin(CLIENTS, CLIENTS.c.id == c.client_id))
                 .order_by(picked.c.urgency, picked.c.next_deadline, c.ref))
    return [dict(row) for row in session.execute(statement).mappings()], int(total)


def assignees(session: Session, limit: int = 200) -> list[str]:
    """The people complaints are assigned to (for the queue's assignee filter)."""
    statement = (select(c.assignee).where(c.assignee.is_not(None)).group_by(c.assignee)
                 .order_by(c.assignee).limit(limit))
    return list(session.execute(statement).scalars())


# -- the client directory ----------------------------------------------------------------------

def search_clients(session: Session, text: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """Registered, not erased clients whose name contains ``text`` (all of them, by name,
    when ``text`` is blank), at most ``limit``."""
    statement = select(CLIENTS.c.id, CLIENTS.c.name, CLIENTS.c.tier, CLIENTS.c.status).where(
        CLIENTS.c.registered.is_(True), CLIENTS.c.status != "erased")
    if text.strip():
        statement = statement.where(CLIENTS.c.name.icontains(text.strip(), autoescape=True))
    statement = statement.order_by(CLIENTS.c.name, CLIENTS.c.id).limit(limit)
    return [dict(row) for row in session.execute(statement).mappings()]


def client_names(session: Session, client_ids: Iterable[str]) -> dict[str, str | None]:
    """The directory's name of each client, ``None`` for an erased client (whose name the
    directory no longer holds anyway); clients it does not know are left out."""
    wanted = sorted({str(client_id) for client_id in client_ids})
    if not wanted:
        return {}
    rows = session.execute(select(CLIENTS.c.id, CLIENTS.c.name, CLIENTS.c.status)
                           .where(CLIENTS.c.id.in_(wanted)))
    return {row.id: None if row.status == "erased" else row.name for row in rows}


def client_entry(session: Session, client_id: str) -> dict[str, Any] | None:
    """The directory's entry for one client (name, tier, status), or ``None``."""
    row = session.execute(select(CLIENTS.c.id, CLIENTS.c.name, CLIENTS.c.tier, CLIENTS.c.status)
                          .where(CLIENTS.c.id == str(client_id))).mappings().first()
    return None if row is None else dict(row)
