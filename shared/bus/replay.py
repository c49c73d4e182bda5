"""Backfill from the outbox (``clientloop outbox replay SERVICE``): a late subscriber catches up.

The outbox keeps sent rows ``CLIENTLOOP_OUTBOX_RETENTION_DAYS`` (35 by default), each with the
event's CloudEvent JSON exactly as it was published. :func:`replay_to_queue` publishes the
rows recorded at or after a time, optionally of the types a pattern names, to one queue through
the default exchange, in outbox order (which is each subject's ``sequence`` order), with their
original bodies and the relay's properties (``message_id`` = the event id, persistent,
``application/cloudevents+json``). Nothing else sees them: no other queue, no binding.
A subscriber deduplicates by event id, so events it already has are simply skipped.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Iterator

from kombu import Producer
from sqlalchemy import select

from shared.bus import topology
from shared.bus.envelope import SERIALIZER
from shared.db import Database, PlatformTables

BATCH = 500
_RELATIVE = re.compile(r"^(\d{1,6})\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``: an ISO 8601 date or time (UTC unless it says otherwise), or an age such as
    ``90m``, ``12h``, ``7d`` or ``2w`` before ``now``."""
    value = text.strip()
    relative = _RELATIVE.match(value.lower())
    if relative:
        return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since must be an ISO 8601 time (2026-05-01, 2026-05-01T08:00:00Z) "
                         f"or an age such as 12h or 7d, not {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def matches_type(pattern: str | None, event_type: str) -> bool:
    if pattern is None:
        return True
    from shared.webhooks.store import matches
    return matches([pattern], event_type)


def retained_rows(database: Database, tables: PlatformTables, *, since: datetime,
                  type_pattern: str | None = None, batch: int = BATCH) -> Iterator:
    """The outbox rows recorded at or after ``since`` (of the types ``type_pattern`` names), in
    outbox id order, read a batch at a time."""
    outbox = tables.outbox
    after = None
    while True:
        statement = (select(outbox.c.id, outbox.c.event_id, outbox.c.event_type, outbox.c.body)
                     .where(outbox.c.created_at >= since).order_by(outbox.c.id).limit(batch))
        if after is not None:
            statement = statement.where(outbox.c.id > after)
        with database.transaction() as session:
            rows = session.execute(statement).all()
        if not rows:
            return
        after = rows[-1].id
        for row in rows:
            if matches_type(type_pattern, row.event_type):
                yield row


def replay_to_queue(database: Database, tables: PlatformTables, broker_url: str, queue: str, *,
                    since: datetime, type_pattern: str | None = None) -> int:
    """Publish the retained rows to ``queue`` (which must exist on RabbitMQ); return how many.

    Each publish is confirmed by the broker before the next (RabbitMQ), so the count printed is
    what the queue received."""
    count = 0
    amqp = topology.is_amqp(broker_url)
    with topology.connection_for(broker_url) as connection:
        connection.ensure_connection(max_retries=3)
        if amqp:
            _check_queue_exists(connection, queue)
        channel = connection.channel()
        try:
            producer = Producer(channel, serializer=SERIALIZER)  # the default exchange
            for row in retained_rows(database, tables, since=since, type_pattern=type_pattern):
                # As the relay publishes it: the stored JSON as it is, the event id as message id.
                producer.publish(row.body, exchange="", routing_key=queue, delivery_mode=2,
                                 message_id=row.event_id, declare=[], retry=False)
                count += 1
        finally:
            channel.close()
    return count


def _check_queue_exists(connection, queue: str) -> None:
    """RabbitMQ drops what the default exchange cannot route: refuse a queue that is not there."""
    if topology.queue_state(connection, queue) is None:
        raise ValueError(f"there is no queue {queue!r} on the broker; declare it first")
