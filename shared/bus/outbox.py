"""Transactional outbox: an event is written in the same transaction as its change.

Requests never touch the broker; they call :func:`record_event` inside their unit of work and
the relay (``shared.bus.relay``) publishes committed rows afterwards. On PostgreSQL the insert
also issues ``NOTIFY`` so the relay wakes as soon as the transaction commits (in the process,
:func:`install_commit_hook` wakes an embedded relay).

On PostgreSQL :func:`record_event` and :func:`record_events` are one statement each: the
subjects' sequence upsert, the outbox insert (the stored body is the envelope's JSON with the
sequence's digits spliced in by the database) and the ``NOTIFY``. SQLite takes the same steps
as separate statements. A caller that writes its own change and its event in one statement
builds it with :func:`event_ctes` and :func:`event_parameters`, then calls
:func:`event_recorded`; one that writes its rows and several events, with :func:`events_ctes`,
:func:`events_parameters` and :func:`events_recorded` (the registry's fold).

PostgreSQL commits the transactions that notified one at a time (each holds the notification
queue's lock through its WAL flush). At the rate of complaints and of the registry's batches
that costs less than a wake-up sent after the commit from another connection
(``shared.bus.wake``, which the public survey submit uses: thousands of commits a second).
"""
from __future__ import annotations

import json
import threading
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable, Mapping

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from shared.bus.envelope import SEQUENCE_DIGITS, build_envelope, format_sequence
from shared.db import PlatformTables, UTCDateTime

#: Set whenever a process commits an outbox row, so an in-process relay wakes at once.
outbox_written = threading.Event()


def notify_channel(service: str) -> str:
    return f"clientloop_outbox_{service}"


def record_event(session: Session, tables: PlatformTables, *, service: str, event_type: str,
                 subject: str, data: Mapping[str, Any], time: datetime,
                 event_id: str | None = None) -> dict[str, Any]:
    """Write one event to the outbox of ``service`` as part of the caller's transaction."""
    subject = str(subject)
    if session.get_bind().dialect.name == "postgresql":
        return _record_event_pg(session, tables, service=service, event_type=event_type,
                                subject=subject, data=data, time=time, event_id=event_id)
    envelope = record_event_on(session.connection(), tables, service=service,
                               event_type=event_type, subject=subject, data=data, time=time,
                               event_id=event_id)
    session.info["outbox_written"] = True
    return envelope


def record_event_on(connection: Connection, tables: PlatformTables, *, service: str,
                    event_type: str, subject: str, data: Mapping[str, Any], time: datetime,
                    event_id: str | None = None) -> dict[str, Any]:
    """:func:`record_event` on SQLite, on a ``Connection`` in the caller's transaction: the
    subject's next sequence (row-locked upsert), then the outbox row — two statements, as
    SQLite has no data-modifying ``WITH``. Waking a relay is the caller's part."""
    subject = str(subject)
    take_number, add_row = _sqlite_statements(tables)
    sequence = int(connection.execute(take_number, {"subject": subject}).scalar_one())
    envelope = build_envelope(service=service, event_type=event_type, subject=subject,
                              data=data, time=time, sequence=sequence, event_id=event_id)
    connection.execute(add_row, {
        "event_id": envelope["id"], "event_type": event_type, "subject": subject,
        "body": json.dumps(envelope, ensure_ascii=False, separators=(",", ":")),
        "created_at": time, "attempts": 0})
    return envelope


@lru_cache(maxsize=16)
def _sqlite_statements(tables: PlatformTables):
    """The two SQLite statements of :func:`record_event_on`, built once per set of tables (so
    each call is a hit in SQLAlchemy's compiled cache)."""
    table = tables.event_sequence
    take_number = (sqlite_insert(table).values(subject=bindparam("subject"), last_value=1)
                   .on_conflict_do_update(index_elements=[table.c.subject],
                                          set_={"last_value": table.c.last_value + 1})
                   .returning(table.c.last_value))
    return take_number, insert(tables.outbox)


#: ``"sequence":"`` and the digits of sequence 0 where the envelope's JSON holds them.
_SEQUENCE_MARK = '"sequence":"'
_SEQUENCE_ZERO = format_sequence(0)


def _record_event_pg(session: Session, tables: PlatformTables, *, service: str,
                     event_type: str, subject: str, data: Mapping[str, Any], time: datetime,
                     event_id: str | None) -> dict[str, Any]:
    """:func:`record_event` in one statement: the body is built here with a sequence of zeros
    and split around those digits; the database joins the two halves with the number it took
    (zero-padded as :func:`format_sequence` pads it), so the stored body is the very JSON the
    envelope returned here serialises to."""
    envelope, params = event_parameters(service=service, event_type=event_type,
                                        subject=subject, data=data, time=time,
                                        event_id=event_id)
    sequence = session.connection().execute(_record_statement(tables), params).scalar_one()
    return event_recorded(session, envelope, sequence)


def event_parameters(*, service: str, event_type: str, subject: str, data: Mapping[str, Any],
                     time: datetime, event_id: str | None = None
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """For a statement of the caller's own that records one event through :func:`event_ctes`
    (PostgreSQL): the envelope (sequence still 0) and the statement's parameters for it."""
    envelope = build_envelope(service=service, event_type=event_type, subject=str(subject),
                              data=data, time=time, sequence=0, event_id=event_id)
    head, tail = split_at_sequence(envelope)
    return envelope, {"subject": str(subject), "event_id": envelope["id"],
                      "event_type": event_type, "body_head": head, "body_tail": tail,
                      "created_at": time, "channel": notify_channel(service)}


def event_recorded(session: Session, envelope: dict[str, Any], sequence: int) -> dict[str, Any]:
    """The envelope of an event a statement of :func:`event_ctes` recorded, with the sequence
    that statement took (``numbered.last_value``); marks the outbox written."""
    envelope["sequence"] = format_sequence(int(sequence))
    session.info["outbox_written"] = True
    return envelope


def event_ctes(tables: PlatformTables, *, after: str | None = None,
               body_tail: str = ":body_tail") -> str:
    """Two ``WITH`` items, ``numbered`` and ``event``, that record one event in the outbox of
    a PostgreSQL statement (parameters: :func:`event_parameters`): the subject's next sequence
    (``numbered.last_value``) and the row, its body ``:body_head``, the sequence's digits, then
    the SQL expression ``body_tail``. ``after``: a ``WITH`` item of the caller's that must
    yield one row for the event to be recorded, and whose columns ``body_tail`` may use.

    The statement need not select from ``event`` (PostgreSQL runs every data-modifying
    ``WITH`` item) and should call ``pg_notify(:channel, '')`` once."""
    sequences, outbox_table = tables.event_sequence.name, tables.outbox.name
    source = f"SELECT :subject, 1 FROM {after}" if after else "VALUES (:subject, 1)"
    return f"""numbered AS (
    INSERT INTO {sequences} (subject, last_value) {source}
    ON CONFLICT (subject) DO UPDATE SET last_value = {sequences}.last_value + 1
    RETURNING last_value
), event AS (
    INSERT INTO {outbox_table} (event_id, event_type, subject, body, created_at, attempts)
    SELECT :event_id, :event_type, :subject,
           :body_head || lpad(numbered.last_value::text, {SEQUENCE_DIGITS}, '0') || {body_tail},
           :created_at, 0
      FROM numbered{f", {after}" if after else ""}
    RETURNING id
)"""


@lru_cache(maxsize=None)
def _record_statement(tables: PlatformTables):
    """The single PostgreSQL statement of :func:`record_event` for these platform tables."""
    return text(f"""
WITH {event_ctes(tables)}
SELECT numbered.last_value, pg_notify(:channel, '') FROM numbered, event
""").bindparams(bindparam("created_at", type_=UTCDateTime()))


def record_events(session: Session, tables: PlatformTables, *, service: str,
                  events: Iterable[tuple[str, str, Mapping[str, Any]]],
                  time: datetime) -> list[dict[str, Any]]:
    """Write several events ``(event_type, subject, data)`` to the outbox of ``service`` in the
    caller's transaction, in that order: what :func:`record_event` for each gives (each
    subject's sequence numbers in the same order), in one statement on PostgreSQL and two on
    SQLite, whatever their number."""
    events = [(event_type, str(subject), data) for event_type, subject, data in events]
    if not events:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _record_events_pg(session, tables, service=service, events=events, time=time)
    counts: dict[str, int] = {}
    for _event_type, subject, _data in events:
        counts[subject] = counts.get(subject, 0) + 1
    next_of = {subject: int(last) - counts[subject] + 1
               for subject, last in session.execute(
                   _count_sequences_statement(tables),
                   [{"subject": subject, "last_value": count}
                    for subject, count in counts.items()]).all()}
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
    session.info["outbox_written"] = True
    return envelopes


@lru_cache(maxsize=64)
def _count_sequences_statement(tables: PlatformTables):
    """SQLite: move each subject's counter by its number of events, returning where it ends:
    one statement compiled once, for any number of subjects (written as one multi-row insert)."""
    table = tables.event_sequence
    statement = sqlite_insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.subject],
        set_={"last_value": table.c.last_value + statement.excluded.last_value},
    ).returning(table.c.subject, table.c.last_value)


def _record_events_pg(session: Session, tables: PlatformTables, *, service: str,
                      events: list[tuple[str, str, Mapping[str, Any]]],
                      time: datetime) -> list[dict[str, Any]]:
    """:func:`record_events` in one statement (see :func:`_record_event_pg`): each subject's
    counter moves once by its number of events, and its events take the numbers in order."""
    envelopes, params = events_parameters(service=service, events=events, time=time)
    return events_recorded(session, envelopes,
                           session.connection().execute(_record_many_statement(tables), params))


def events_parameters(*, service: str, events: Iterable[tuple[str, str, Mapping[str, Any]]],
                      time: datetime) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """For a statement of the caller's own that records several events ``(event_type,
    subject, data)`` through :func:`events_ctes` (PostgreSQL): their envelopes (sequences still
    0) and the statement's parameters for them (none is fine: the statement writes no row)."""
    envelopes, seen, given = [], {}, []
    for event_type, subject, data in events:
        subject = str(subject)
        envelope = build_envelope(service=service, event_type=event_type, subject=subject,
                                  data=data, time=time, sequence=0)
        head, tail = split_at_sequence(envelope)
        seen[subject] = seen.get(subject, 0) + 1
        given.append((subject, envelope["id"], event_type, head, tail, seen[subject]))
        envelopes.append(envelope)
    return envelopes, {"events": json.dumps(given, ensure_ascii=False, separators=(",", ":")),
                       "created_at": time, "channel": notify_channel(service)}


def events_recorded(session: Session, envelopes: list[dict[str, Any]],
                    rows: Iterable) -> list[dict[str, Any]]:
    """The envelopes of a statement of :func:`events_ctes` with the sequences it took (its rows
    ``(ord, sequence)``, :data:`EVENTS_RESULT`); marks the outbox written when there were any."""
    for number, sequence in rows:
        envelopes[number]["sequence"] = format_sequence(int(sequence))
    if envelopes:
        session.info["outbox_written"] = True
    return envelopes


def events_ctes(tables: PlatformTables) -> str:
    """``WITH`` items (``input`` … ``written``) that record the events of ``:events``
    (:func:`events_parameters`) in the outbox of a PostgreSQL statement; the statement ends with
    :data:`EVENTS_RESULT`, which gives each event's sequence and wakes the relay."""
    sequences, outbox_table = tables.event_sequence.name, tables.outbox.name
    return f"""input AS (
    SELECT item->>0 AS subject, item->>1 AS event_id, item->>2 AS event_type,
           item->>3 AS body_head, item->>4 AS body_tail, (item->>5)::integer AS rank,
           ord - 1 AS ord
      FROM jsonb_array_elements(CAST(:events AS jsonb)) WITH ORDINALITY AS given (item, ord)
), counts AS (
    SELECT subject, count(*) AS n, min(ord) AS first FROM input GROUP BY subject
), numbered AS (
    INSERT INTO {sequences} (subject, last_value)
    SELECT subject, n FROM counts ORDER BY first
    ON CONFLICT (subject) DO UPDATE SET last_value = {sequences}.last_value + excluded.last_value
    RETURNING subject, last_value
), placed AS (
    SELECT input.*, numbered.last_value - counts.n + input.rank AS sequence
      FROM input JOIN counts USING (subject) JOIN numbered USING (subject)
), written AS (
    INSERT INTO {outbox_table} (event_id, event_type, subject, body, created_at, attempts)
    SELECT event_id, event_type, subject,
           body_head || lpad(sequence::text, {SEQUENCE_DIGITS}, '0') || body_tail, :created_at, 0
      FROM placed ORDER BY ord
    RETURNING id
)"""


#: How a statement of :func:`events_ctes` ends: each event's place and sequence, and one
#: ``NOTIFY`` for the relay — none when it wrote no event (``:events`` empty: a statement that
#: writes rows of its own and, this time, no event), which would wake the relay for nothing.
EVENTS_RESULT = """
SELECT ord, sequence FROM placed,
       (SELECT pg_notify(:channel, ''), count(*) FROM written HAVING count(*) > 0) AS woken
 ORDER BY ord"""


def split_at_sequence(envelope: Mapping[str, Any]) -> tuple[str, str]:
    """The envelope's JSON (as the outbox stores it) before and after the digits of its
    sequence, which must be 0 (:func:`event_parameters`). The first occurrence is the
    envelope's own key: inside a JSON string every quote is escaped, and ``sequence`` comes
    before ``data``."""
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    at = body.index(_SEQUENCE_MARK + _SEQUENCE_ZERO + '"') + len(_SEQUENCE_MARK)
    return body[:at], body[at + SEQUENCE_DIGITS:]


@lru_cache(maxsize=64)
def _record_many_statement(tables: PlatformTables):
    """The single PostgreSQL statement of :func:`record_events`, for any number of events: they
    go as one JSON array of ``[subject, event id, event type, body head, body tail, rank]``, so
    the statement is short and has a fixed set of parameters — the driver keeps it parsed, where
    a row of parameters per event (over 50 parameters for 8 events) was parsed again on every
    call. JSON rather than one array parameter per field: the driver escapes the elements of a
    text array in Python, match by match (about 80 µs for an event's body), where ``json.dumps``
    escapes them in C (about 2 µs)."""
    return text(f"WITH {events_ctes(tables)}{EVENTS_RESULT}\n").bindparams(
        bindparam("created_at", type_=UTCDateTime()))


def install_commit_hook(session_factory) -> None:
    """Wake an in-process relay after a commit that wrote outbox rows; and the relay process on
    PostgreSQL when they were written without a ``NOTIFY`` of their own (then
    ``session.info["outbox_written"]`` holds the service's name: :func:`wake_relay`)."""
    from sqlalchemy import event

    @event.listens_for(session_factory, "after_commit")
    def _after_commit(session):
        written = session.info.pop("outbox_written", False)
        if written:
            outbox_written.set()
            if isinstance(written, str):
                wake_relay(session.get_bind(), written)


def wake_relay(bind, service: str) -> None:
    """After a commit that wrote ``service``'s outbox rows on ``bind`` (an engine or connection)
    without a ``NOTIFY`` in it: wake the relay process on PostgreSQL with one ``NOTIFY`` sent
    after the commit, shared by every such commit meanwhile (``shared.bus.wake``). The path
    that commits most often (the public survey submit) writes this way, so its commits are not
    serialised on the notification queue's lock."""
    if bind.dialect.name == "postgresql":
        from shared.bus.wake import waker
        waker(bind.engine.url, notify_channel(service)).poke()


def pending(session: Session | Connection, tables: PlatformTables, limit: int = 100, *,
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
