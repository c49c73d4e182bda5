"""Webhook endpoints and their deliveries in a service's database (SQLAlchemy Core).

Plain functions on a session, used by the HTTP API (``shared.web.webhooks``), the command line
and the dispatcher (``shared.webhooks.dispatcher``); each returns plain dicts. An endpoint's
secret leaves this module once, in the answer of :func:`create_endpoint`.

A delivery is one event for one endpoint: ``pending`` (due at ``next_attempt_at``),
``delivered`` (a 2xx answer) or ``failed`` (every attempt of the schedule failed). Its body is
the event's CloudEvent JSON exactly as the outbox stores it and the bus carries it.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shared.bus.envelope import build_envelope
from shared.clock import as_utc
from shared.db import PlatformTables

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
STATUSES = (PENDING, DELIVERED, FAILED)
#: The event type of the ping ``POST /api/v1/webhooks/{id}/test`` sends.
TEST_EVENT_TYPE = "webhook.test"
#: Why an endpoint was disabled by an administrator (PATCH ``enabled: false``).
DISABLED_BY_ADMIN = "disabled by an administrator"

_ENDPOINT_KEYS = ("id", "url", "event_types", "description", "enabled", "disabled_reason",
                  "created_at", "updated_at")
_DELIVERY_KEYS = ("id", "event_id", "event_type", "status", "attempts", "last_status_code",
                  "last_error", "last_attempt_at", "next_attempt_at", "delivered_at",
                  "created_at")
_TIMES = {"created_at", "updated_at", "last_attempt_at", "next_attempt_at", "delivered_at",
          "disabled_at", "failing_since", "locked_until"}


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """Whether ``event_type`` is one the patterns name: ``*`` (every type), ``complaint.*``
    (``complaint.opened``, ``complaint.sla.breached``: the prefix and a dot) or an exact name."""
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def _value(key: str, value: Any) -> Any:
    return as_utc(value) if key in _TIMES else value


def _endpoint(row: Mapping[str, Any]) -> dict[str, Any]:
    endpoint = {key: _value(key, row[key]) for key in _ENDPOINT_KEYS}
    endpoint["event_types"] = json.loads(row["event_types"])
    endpoint["enabled"] = bool(row["enabled"])
    return endpoint


def _delivery(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _value(key, row[key]) for key in _DELIVERY_KEYS}


# -- endpoints --------------------------------------------------------------------------------
def create_endpoint(session: Session, tables: PlatformTables, *, url: str,
                    event_types: list[str], description: str | None,
                    now: datetime) -> dict[str, Any]:
    """A new enabled endpoint with a new secret; the answer holds the ``secret`` (only this one)."""
    from shared.webhooks.signing import new_secret
    row = {"id": str(uuid.uuid4()), "url": url, "event_types": json.dumps(list(event_types)),
           "description": description, "secret": new_secret(), "enabled": True,
           "disabled_reason": None, "disabled_at": None, "failing_since": None,
           "created_at": now, "updated_at": now}
    session.execute(insert(tables.webhook_endpoint).values(**row))
    return {**_endpoint(row), "secret": row["secret"]}


def list_endpoints(session: Session, tables: PlatformTables) -> list[dict[str, Any]]:
    table = tables.webhook_endpoint
    rows = session.execute(select(table).order_by(table.c.created_at, table.c.id)).mappings()
    return [_endpoint(row) for row in rows]


def get_endpoint(session: Session, tables: PlatformTables,
                 endpoint_id: str) -> dict[str, Any] | None:
    table = tables.webhook_endpoint
    row = session.execute(select(table).where(table.c.id == str(endpoint_id))).mappings().first()
    return None if row is None else _endpoint(row)


def endpoint_secret(session: Session, tables: PlatformTables, endpoint_id: str) -> str | None:
    """The endpoint's signing secret (for the dispatcher and tests; never in an answer)."""
    table = tables.webhook_endpoint
    return session.execute(select(table.c.secret)
                           .where(table.c.id == str(endpoint_id))).scalar_one_or_none()


def update_endpoint(session: Session, tables: PlatformTables, endpoint_id: str,
                    changes: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
    """Change ``url``, ``event_types``, ``description`` or ``enabled`` (the keys present).
    Enabling a disabled endpoint clears why and since when it was disabled and failing;
    disabling one records that an administrator did."""
    table = tables.webhook_endpoint
    current = session.execute(select(table).where(table.c.id == str(endpoint_id))
                              .with_for_update()).mappings().first()
    if current is None:
        return None
    values: dict[str, Any] = {"updated_at": now}
    for key in ("url", "description"):
        if key in changes:
            values[key] = changes[key]
    if "event_types" in changes:
        values["event_types"] = json.dumps(list(changes["event_types"]))
    if "enabled" in changes and bool(changes["enabled"]) != bool(current["enabled"]):
        if changes["enabled"]:
            values.update(enabled=True, disabled_reason=None, disabled_at=None,
                          failing_since=None)
        else:
            values.update(enabled=False, disabled_reason=DISABLED_BY_ADMIN, disabled_at=now)
    session.execute(update(table).where(table.c.id == str(endpoint_id)).values(**values))
    return get_endpoint(session, tables, endpoint_id)


def delete_endpoint(session: Session, tables: PlatformTables, endpoint_id: str) -> bool:
    """Delete the endpoint and its deliveries; False if there was none."""
    session.execute(delete(tables.webhook_delivery)
                    .where(tables.webhook_delivery.c.endpoint_id == str(endpoint_id)))
    table = tables.webhook_endpoint
    return session.execute(delete(table).where(table.c.id == str(endpoint_id))).rowcount > 0


def disable_endpoint(session: Session, tables: PlatformTables, endpoint_id: str, *,
                     reason: str, now: datetime) -> None:
    table = tables.webhook_endpoint
    session.execute(update(table).where(table.c.id == str(endpoint_id), table.c.enabled)
                    .values(enabled=False, disabled_reason=reason, disabled_at=now,
                            updated_at=now))


# -- deliveries -------------------------------------------------------------------------------
def list_deliveries(session: Session, tables: PlatformTables, endpoint_id: str, *,
                    status: str | None = None, limit: int = 50,
                    offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The endpoint's deliveries, newest first, and how many there are in all."""
    table = tables.webhook_delivery
    where = [table.c.endpoint_id == str(endpoint_id)]
    if status is not None:
        where.append(table.c.status == status)
    total = session.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
    rows = session.execute(select(table).where(*where)
                           .order_by(table.c.created_at.desc(), table.c.id.desc())
                           .limit(limit).offset(offset)).mappings()
    return [_delivery(row) for row in rows], int(total)


def get_delivery(session: Session, tables: PlatformTables, endpoint_id: str,
                 delivery_id: str) -> dict[str, Any] | None:
    table = tables.webhook_delivery
    row = session.execute(select(table).where(table.c.id == str(delivery_id),
                                              table.c.endpoint_id == str(endpoint_id))
                          ).mappings().first()
    return None if row is None else _delivery(row)


def _again(now: datetime) -> dict[str, Any]:
    """What sends a delivery again: pending, due now, a fresh schedule of attempts."""
    return {"status": PENDING, "next_attempt_at": now, "locked_until": None, "attempts": 0,
            "delivered_at": None}


def retry_delivery(session: Session, tables: PlatformTables, endpoint_id: str,
                   delivery_id: str, now: datetime) -> dict[str, Any] | None:
    """Send a delivery (failed, delivered or pending) again, from now, with a fresh schedule."""
    table = tables.webhook_delivery
    changed = session.execute(update(table).where(table.c.id == str(delivery_id),
                                                  table.c.endpoint_id == str(endpoint_id))
                              .values(**_again(now))).rowcount
    return get_delivery(session, tables, endpoint_id, delivery_id) if changed else None


def insert_deliveries(session: Session, tables: PlatformTables,
                                rows: list[dict[str, Any]]) -> None:
    """Insert deliveries; one of the same endpoint and event already there is left as it is."""
    if not rows:
        return
    table = tables.webhook_delivery
    factory = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(factory(table).on_conflict_do_nothing(
        index_elements=[table.c.endpoint_id, table.c.event_id]), rows)


def new_delivery(endpoint_id: str, *, event_id: str, event_type: str, subject: str, body: str,
                 now: datetime) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "endpoint_id": str(endpoint_id), "event_id": event_id,
            "event_type": event_type, "subject": subject, "body": body, "status": PENDING,
            "attempts": 0, "next_attempt_at": now, "locked_until": None,
            "last_status_code": None, "last_error": None, "last_attempt_at": None,
            "delivered_at": None, "created_at": now}


def enqueue_test(session: Session, tables: PlatformTables, endpoint_id: str, *, service: str,
                 now: datetime) -> dict[str, Any] | None:
    """A ping for the endpoint, due now: a CloudEvent of type ``webhook.test`` with a new id
    (it is in no outbox and on no bus). None if there is no such endpoint."""
    if get_endpoint(session, tables, endpoint_id) is None:
        return None
    envelope = build_envelope(service=service, event_type=TEST_EVENT_TYPE,
                              subject=str(endpoint_id), data={"endpoint_id": str(endpoint_id)},
                              time=now, sequence=0)
    row = new_delivery(endpoint_id, event_id=envelope["id"], event_type=TEST_EVENT_TYPE,
                       subject=str(endpoint_id), now=now,
                       body=json.dumps(envelope, ensure_ascii=False, separators=(",", ":")))
    session.execute(insert(tables.webhook_delivery).values(**row))
    return _delivery(row)


#: Outbox rows read at a time by a replay.
REPLAY_BATCH = 500


def enqueue_replay(session: Session, tables: PlatformTables, endpoint_id: str, *,
                   since: datetime, type_pattern: str | None, now: datetime) -> int:
    """Deliver again, from now, the retained events recorded at or after ``since`` whose type
    matches ``type_pattern`` (None: any) and the endpoint's event types, in the outbox's
    order, with their original ids and bodies; return how many. A delivery of one of them
    that exists goes back to pending with a fresh schedule."""
    endpoint = get_endpoint(session, tables, endpoint_id)
    if endpoint is None:
        return 0
    outbox, deliveries = tables.outbox, tables.webhook_delivery
    count, after = 0, None
    while True:
        statement = (select(outbox.c.id, outbox.c.event_id, outbox.c.event_type,
                            outbox.c.subject, outbox.c.body)
                     .where(outbox.c.created_at >= since).order_by(outbox.c.id)
                     .limit(REPLAY_BATCH))
        if after is not None:
            statement = statement.where(outbox.c.id > after)
        rows = session.execute(statement).all()
        if not rows:
            return count
        after = rows[-1].id
        chosen = [row for row in rows if matches(endpoint["event_types"], row.event_type)
                  and (type_pattern is None or matches([type_pattern], row.event_type))]
        if chosen:
            # Due a microsecond apart in the outbox's order: the dispatcher sends an endpoint's
            # deliveries in the order they fall due.
            due = [now + timedelta(microseconds=count + number) for number in range(len(chosen))]
            session.execute(
                update(deliveries).where(deliveries.c.endpoint_id == str(endpoint_id),
                                         deliveries.c.event_id == bindparam("replayed"))
                .values(**{**_again(now), "next_attempt_at": bindparam("due")}),
                [{"replayed": row.event_id, "due": at} for row, at in zip(chosen, due)])
            insert_deliveries(session, tables, [
                new_delivery(endpoint_id, event_id=row.event_id, event_type=row.event_type,
                             subject=row.subject, body=row.body, now=at)
                for row, at in zip(chosen, due)])
            count += len(chosen)


def prune_deliveries(session: Session, tables: PlatformTables, *, now: datetime,
                     days: int) -> int:
    """Delete delivered and failed deliveries whose last attempt (or creation) is older than
    ``days``; pending ones stay whatever their age. Returns how many went."""
    table = tables.webhook_delivery
    cutoff = now - timedelta(days=days)
    return session.execute(delete(table).where(
        table.c.status.in_((DELIVERED, FAILED)),
        or_(table.c.last_attempt_at < cutoff,
            and_(table.c.last_attempt_at.is_(None), table.c.created_at < cutoff)))).rowcount
