"""Improvement actions ⇄ rows (compare-and-set on ``version``), their effects and the
root-cause Pareto, each read in a fixed number of statements.

Root causes are grouped in Python by ``domain.improvement.normalise_root_cause`` over counts
the database groups by exact spelling (few rows: one per spelling), so SQLite and PostgreSQL
group alike and every report agrees with every other.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable, Sequence
from uuid import UUID

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from services.complaints.adapters.orm import ImprovementEntryRecord, ImprovementRecord
from services.complaints.adapters.reports import breached_clause
from services.complaints.adapters.repository import COMPLAINTS
from services.complaints.domain.improvement import (
    Improvement, ImprovementEntry, effect, effect_windows, normalise_root_cause,
    spelling_groups)
from services.complaints.domain.reports import report_number
from shared.clock import as_utc

IMPROVEMENTS = ImprovementRecord.__table__
ENTRIES = ImprovementEntryRecord.__table__
c = COMPLAINTS.c

_STORED = ("title", "root_cause", "description", "category", "owner", "due_on", "status",
           "started_at", "done_at", "updated_at", "version")


def improvement_from_row(row: Any) -> Improvement:
    return Improvement(
        id=UUID(row.id), title=row.title, root_cause=row.root_cause,
        description=row.description, category=row.category, owner=row.owner,
        due_on=row.due_on, status=row.status,
        started_at=as_utc(row.started_at) if row.started_at else None,
        done_at=as_utc(row.done_at) if row.done_at else None,
        created_at=as_utc(row.created_at), created_by=row.created_by,
        updated_at=as_utc(row.updated_at), version=row.version)


def load_improvement(session: Session, improvement_id: UUID | str, *,
                     for_update: bool = False) -> Improvement | None:
    statement = select(IMPROVEMENTS).where(IMPROVEMENTS.c.id == str(improvement_id))
    if for_update:
        statement = statement.with_for_update()
    row = session.execute(statement).first()
    return None if row is None else improvement_from_row(row)


def _entries(session: Session, improvement_id: UUID, entries: Sequence[ImprovementEntry]):
    if entries:
        session.execute(insert(ENTRIES), [{
            "improvement_id": str(improvement_id), "at": entry.at, "by": entry.by,
            "action": entry.action, "from_status": entry.from_status,
            "to_status": entry.to_status, "note": entry.note, "details": dict(entry.details),
        } for entry in entries])


def insert_improvement(session: Session, improvement: Improvement) -> None:
    values = {name: getattr(improvement, name) for name in _STORED}
    values.update(id=str(improvement.id), created_at=improvement.created_at,
                  created_by=improvement.created_by)
    session.execute(insert(IMPROVEMENTS), values)
    _entries(session, improvement.id, improvement.timeline)


def save_improvement(session: Session, improvement: Improvement, *, loaded_version: int) -> bool:
    """Compare-and-set: ``False`` when the row is no longer at ``loaded_version``."""
    result = session.execute(
        update(IMPROVEMENTS)
        .where(IMPROVEMENTS.c.id == str(improvement.id), IMPROVEMENTS.c.version == loaded_version)
        .values({name: getattr(improvement, name) for name in _STORED}))
    if result.rowcount != 1:
        return False
    _entries(session, improvement.id, improvement.timeline)
    return True


def load_timeline(session: Session, improvement_id: UUID | str) -> list[dict[str, Any]]:
    rows = session.execute(select(ENTRIES).where(ENTRIES.c.improvement_id == str(improvement_id))
                           .order_by(ENTRIES.c.id)).mappings().all()
    return [{**row, "at": as_utc(row["at"])} for row in rows]


# -- effects -----------------------------------------------------------------------------------

def effects(session: Session, improvements: Iterable[Improvement], now: datetime
            ) -> dict[UUID, dict[str, Any] | None]:
    """The effect of each improvement (see ``domain.improvement.effect``), in one statement
    whatever their number: the openings of the complaints with a root cause within any of
    their windows (``opened_at`` is indexed), matched here by the normalised root cause."""
    improvements = list(improvements)
    spans = []
    for improvement in improvements:
        for window in effect_windows(improvement.started_at, improvement.done_at, now):
            if window is not None:
                spans.append(window)
    openings: dict[str, list[datetime]] = {}
    if spans:
        windows = or_(*[and_(c.opened_at >= start, c.opened_at < end)
                        for start, end in sorted(set(spans))])
        rows = session.execute(select(c.root_cause, c.opened_at).where(
            c.root_cause.is_not(None), windows))
        for root_cause, opened_at in rows:
            key = normalise_root_cause(root_cause)
            if key is not None:
                openings.setdefault(key, []).append(as_utc(opened_at))
    return {improvement.id: effect(improvement.started_at, improvement.done_at, now,
                                   openings.get(normalise_root_cause(improvement.root_cause),
                                                []))
            for improvement in improvements}


# -- the Pareto --------------------------------------------------------------------------------

def root_causes_report(session: Session, *, first_day, last_day, start: datetime,
                       end: datetime, now: datetime) -> dict[str, Any]:
    """``{"from", "to", "total", "items": [...]}`` over the complaints opened in
    ``[start, end)`` that have a root cause, biggest root cause first: two statements (the
    counts per spelling, the improvement actions)."""
    cohort = and_(c.opened_at >= start, c.opened_at < end, c.root_cause.is_not(None))
    rows = session.execute(
        select(c.root_cause, func.count(), func.count().filter(breached_clause(now)),
               func.count().filter(c.reopen_count > 0))
        .where(cohort).group_by(c.root_cause)).all()
    groups = spelling_groups((root_cause, count) for root_cause, count, _b, _r in rows)
    extra: dict[str, list[int]] = {}
    for root_cause, _count, breached, reopened in rows:
        key = normalise_root_cause(root_cause)
        if key is None:
            continue
        sums = extra.setdefault(key, [0, 0])
        sums[0] += int(breached)
        sums[1] += int(reopened)
    actions: dict[str, list[dict[str, str]]] = {}
    if groups:
        for row in session.execute(select(IMPROVEMENTS.c.id, IMPROVEMENTS.c.title,
                                          IMPROVEMENTS.c.status, IMPROVEMENTS.c.root_cause)
                                   .order_by(IMPROVEMENTS.c.created_at, IMPROVEMENTS.c.id)):
            key = normalise_root_cause(row.root_cause)
            if key in groups:
                actions.setdefault(key, []).append(
                    {"id": row.id, "title": row.title, "status": row.status})
    total = sum(count for _spelling, count in groups.values())
    ordered = sorted(groups.items(), key=lambda item: (-item[1][1], item[1][0]))
    items, running = [], 0
    for key, (spelling, count) in ordered:
        running += count
        items.append({
            "root_cause": spelling, "complaints": count,
            "share": report_number(Decimal(count) * 100 / total),
            "cumulative_share": report_number(Decimal(running) * 100 / total),
            "breached": extra[key][0], "reopened": extra[key][1],
            "actions": actions.get(key, [])})
    return {"from": first_day.isoformat(), "to": last_day.isoformat(), "total": total,
            "items": items}


def list_statement(status: str | None = None):
    """Improvement actions, newest first (optionally of one status)."""
    statement = select(ImprovementRecord)
    if status is not None:
        statement = statement.where(ImprovementRecord.status == status)
    return statement.order_by(ImprovementRecord.created_at.desc(), ImprovementRecord.id.desc())

