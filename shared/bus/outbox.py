"""Transactional outbox: an event is written in the same transaction as its change.

Requests never touch the broker; they call :func:`record_event` inside their unit of work and
the relay (``shared.bus.relay``) publishes committed rows afterwards. On PostgreSQL the insert
also issues ``NOTIFY`` so the relay wakes as soon as the transaction commits.
"""
from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any, Iterable, Mapping

from sqlalchemy import insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shared.bus.envelope import build_envelope
from shared.db import PlatformTables

#: Set whenever a process commits an outbox row, so an in-process relay wakes at once.
outbox_written = threading.Event()


def notify_channel(service: str) -> str:
    return f"clientloop_outbox_{service}"


def next_sequence(session: Session, tables: PlatformTables, subject: str) -> int:
    """Atomically take the next sequence number for ``subject`` (row-locked upsert)."""
    table = tables.event_sequence
    dialect = session.get_bind().dialect.name
    factory = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = factory(table).values(subject=subject, last_value=1)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.subject], set_={"last_value": table.c.last_value + 1}
    ).returning(table.c.last_value)
    return int(session.execute(statement).scalar_one())


def record_event(session: Session, tables: PlatformTables, *, service: str, event_type: str,
                 subject: str, data: Mapping[str, Any], time: datetime,
                 event_id: str | None = None) -> dict[str, Any]:
    """Write one event to the outbox of ``service`` as part of the caller's transaction."""
    sequence = next_sequence(session, tables, str(subject))
    envelope = build_envelope(service=service, event_type=event_type, subject=str(subject),
                              data=data, time=time, sequence=sequence, event_id=event_id)
    session.execute(insert(tables.outbox).values(
        event_id=envelope["id"], event_type=event_type, subject=str(subject),
        body=json.dumps(envelope, ensure_ascii=False, separators=(",", ":")),
        created_at=time, attempts=0,
    ))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": notify_channel(service)})
    session.info["outbox_written"] = True
    return envelope


def record_events(session: Session, tables: PlatformTables, *, service: str,
                  events: Iterable[tuple[str, str, Mapping[str, Any]]],
                  time: datetime) -> list[dict[str, Any]]:
    """Write several events ``(event_type, subject, data)`` to the outbox of ``service`` in the
    caller's transaction, in that order: what :func:`record_event` for each gives (each
    subject's sequence numbers in the same order), in three statements whatever their number."""
    events = [(event_type, str(subject), data) for event_type, subject, data in events]
    if not events:
        return []
    counts: dict[str, int] = {}
    for _event_type, subject, _data in events:
        counts[subject] = counts.get(subject, 0) + 1
    table = tables.event_sequence
    factory = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = factory(table).values([{"subject": subject, "last_value": count}
                                       for subject, count in counts.items()])
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.subject],
        set_={"last_value": table.c.last_value + statement.excluded.last_value},
    ).returning(table.c.subject, table.c.last_value)
    next_of = {subject: int(last) - counts[subject] + 1
               for subject, last in session.execute(statement).all()}
    envelopes, rows = [], []
    for event_type, subject, data in events:
        envelope = build_envelope(service=service, event_type=event_type, subject=subject,
                                  data=data, time=time, sequence=next_of[subject])
        next_of[subject] += 1
        envelopes.append(envelope)
        rows.append({"event_id": envelope["id"], "event_type": event_type, "subject": subject,
                     "body": json.dumps(envelope, ensure_ascii=False, separators=(",", ":")),
                     "created_at": time, "attempts": 0})
    session.execute(insert(tables.outbox), rows)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": notify_channel(service)})
    session.info["outbox_written"] = True
    return envelopes


def install_commit_hook(session_factory) -> None:
    """Wake an in-process relay after a commit that wrote outbox rows."""
    from sqlalchemy import event

    @event.listens_for(session_factory, "after_commit")
    def _after_commit(session):
        if session.info.pop("outbox_written", False):
            outbox_written.set()


def pending(session: Session, tables: PlatformTables, limit: int = 100, *,
            skip_subjects: Iterable[str] = ()):
    """The oldest unsent rows by id (a subject's rows in the order they were committed),
    leaving out those of ``skip_subjects``.

    Ids are taken at insert and rows appear at commit, so a row may appear after rows with
    higher ids: read from the oldest unsent row every time, never on from the last id seen."""
    table = tables.outbox
    statement = (select(table.c.id, table.c.event_id, table.c.event_type, table.c.subject,
                        table.c.body)
                 .where(table.c.sent_at.is_(None)).order_by(table.c.id).limit(limit))
    skip = list(skip_subjects)
    if skip:
        statement = statement.where(table.c.subject.not_in(skip))
    return session.execute(statement).all()


def record_failure(session: Session, tables: PlatformTables, row_id: int, error: str) -> None:
    """One more failed publish of the row: ``attempts`` + 1 and why (``last_error``)."""
    table = tables.outbox
    session.execute(update(table).where(table.c.id == row_id).values(
        attempts=table.c.attempts + 1, last_error=error[:1000]))


def mark_sent(session: Session, tables: PlatformTables, ids: list[int], at: datetime) -> None:
    if ids:
        session.execute(update(tables.outbox).where(tables.outbox.c.id.in_(ids)).values(sent_at=at))
