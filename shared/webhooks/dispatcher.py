"""The webhook dispatcher: turns committed outbox rows into deliveries and makes the attempts.

It runs beside the service's outbox relay (``shared.runtime``) and never touches the relay's
path: it reads the outbox on its own, by the ``webhooks_at`` mark, so however slow an endpoint
is, the bus is not held back. Each pass:

1. **fan-out** — outbox rows not yet marked (only committed rows are visible) become one
   ``pending`` delivery per enabled endpoint whose event types match and which existed when the
   event was recorded; the rows are marked in the same transaction (with no endpoint, only
   marked). A delivery of the same event for the same endpoint is made once.
2. **claim** — due deliveries are leased (``locked_until``; ``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, so dispatchers of several replicas share the work), at most one per endpoint
   and no more than free attempt threads: a hanging endpoint holds only its own slot.
3. **attempt** — on a thread of its own, signed (Standard Webhooks) and bounded by the
   timeout; the result is recorded: a 2xx is ``delivered``; anything else is tried again after
   the next delay of ``webhooks_retry_delays`` (±20 % jitter) and is ``failed`` after the
   last. A 410 disables the endpoint at once; an endpoint failing for longer than
   ``webhooks_disable_after_days`` is disabled at its next failure.

A dispatcher that stops (or dies) mid-attempt leaves the lease to expire; the delivery is then
attempted again with the same ``webhook-id``: delivery is at least once.
"""
from __future__ import annotations

import json
import logging
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import Session

from shared.clock import as_utc, utcnow
from shared.db import Database, PlatformTables
from shared.driver_db import sqlite_alone
from shared.webhooks import store
from shared.webhooks.policy import WebhookPolicy
from shared.webhooks.sender import Outcome, send
from shared.webhooks.signing import signed_headers

log = logging.getLogger("clientloop.webhooks")

#: How much later than the attempt's timeout a lease ends (recording the result included).
LEASE_MARGIN_S = 30.0
#: Jitter on each retry delay: the delay times a factor from 1 - JITTER to 1 + JITTER.
JITTER = 0.2
GONE = 410


@dataclass(frozen=True)
class Claim:
    """One leased delivery and what its attempt needs."""

    delivery_id: str
    endpoint_id: str
    event_id: str
    body: str
    url: str
    secret: str


class Dispatcher:
    def __init__(self, service: str, database: Database, tables: PlatformTables, settings, *,
                 clock: Callable[[], datetime] = utcnow, sender=send, poll_s: float = 1.0,
                 max_in_flight: int = 16, batch_size: int = 200) -> None:
        self.service = service
        self.database = database
        self.tables = tables
        self.settings = settings
        self.clock = clock
        self.sender = sender
        self.poll_s = poll_s
        self.max_in_flight = max_in_flight
        self.batch_size = batch_size
        self.policy = WebhookPolicy.from_settings(settings)
        self._busy: set[str] = set()          # endpoints with an attempt in flight here
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._unsubscribed_mark = None   # SQLite: the statement of _mark_unsubscribed_alone

    # -- the loop ------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        log.info("webhook dispatcher started", extra={"service": self.service})
        failures = 0
        while not stop.is_set():
            try:
                self.fan_out()
                self.dispatch_due()
                failures = 0
            except Exception:  # noqa: BLE001 - outlive database outages, like the relay
                failures += 1
                log.exception("webhook pass failed; retrying", extra={"service": self.service})
                stop.wait(min(30.0, 0.5 * 2 ** min(failures, 6)))
                continue
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def in_flight(self) -> int:
        with self._lock:
            return len(self._busy)

    # -- fan-out -------------------------------------------------------------------------
    def fan_out(self) -> int:
        """Deliveries for the committed outbox rows not fanned out yet; returns how many rows
        were marked."""
        total = 0
        while True:
            marked = self._fan_out_batch()
            total += marked
            if marked < self.batch_size:
                return total

    def _fan_out_batch(self) -> int:
        outbox, endpoints = self.tables.outbox, self.tables.webhook_endpoint
        if not self._any(select(outbox.c.id).where(outbox.c.webhooks_at.is_(None))):
            return 0
        if not self._postgres():
            marked = self._mark_unsubscribed_alone()
            if marked:
                return marked
            # None marked: an endpoint is enabled (or another pass took the rows) — below.
        with self.database.transaction() as session:
            now = self.clock()
            subscribed = [(endpoint.id, json.loads(endpoint.event_types),
                           as_utc(endpoint.created_at))
                          for endpoint in session.execute(
                              select(endpoints.c.id, endpoints.c.event_types,
                                     endpoints.c.created_at).where(endpoints.c.enabled))]
            statement = (select(outbox.c.id, outbox.c.event_id, outbox.c.event_type,
                                outbox.c.subject, outbox.c.body, outbox.c.created_at)
                         .where(outbox.c.webhooks_at.is_(None)).order_by(outbox.c.id)
                         .limit(self.batch_size))
            if self._postgres():
                statement = statement.with_for_update(skip_locked=True)
            if not subscribed:
                # No endpoint to deliver to: the rows are only marked, by one statement that
                # reads no body (on SQLite the file's write lock is held for a moment, not
                # while a batch of events is read into Python and its marks written back).
                return session.execute(
                    update(outbox).where(outbox.c.id.in_(
                        statement.with_only_columns(outbox.c.id).scalar_subquery()))
                    .values(webhooks_at=now)).rowcount
            rows = session.execute(statement).all()
            if not rows:
                return 0
            # Due a microsecond apart in the outbox's order, the order an endpoint gets them in.
            deliveries = [
                store.new_delivery(endpoint_id, event_id=row.event_id,
                                   event_type=row.event_type, subject=row.subject,
                                   body=row.body, now=now + timedelta(microseconds=number))
                for number, row in enumerate(rows)
                for endpoint_id, patterns, created_at in subscribed
                if created_at <= as_utc(row.created_at) and store.matches(patterns, row.event_type)]
            store.insert_deliveries(session, self.tables, deliveries)
            session.execute(update(outbox).where(outbox.c.id.in_([row.id for row in rows]))
                            .values(webhooks_at=now))
        if deliveries:
            self._wake.set()
        return len(rows)

    def _mark_unsubscribed_alone(self) -> int:
        """SQLite with no endpoint enabled: the oldest batch of rows marked fanned out by **one**
        statement in autocommit, which checks that no endpoint is enabled itself
        (``shared.driver_db.sqlite_alone``: the file's write lock held for that statement
        only). How many rows it marked; none when an endpoint is enabled."""
        outbox, endpoints = self.tables.outbox, self.tables.webhook_endpoint
        if self._unsubscribed_mark is None:
            oldest = (select(outbox.c.id).where(outbox.c.webhooks_at.is_(None))
                      .order_by(outbox.c.id).limit(self.batch_size).scalar_subquery())
            self._unsubscribed_mark = (
                update(outbox).where(outbox.c.id.in_(oldest),
                                     ~exists().where(endpoints.c.enabled))
                .values(webhooks_at=bindparam("now")))
        with sqlite_alone(self.database).connect() as connection:
            return connection.execute(self._unsubscribed_mark, {"now": self.clock()}).rowcount

    # -- claims and attempts ------------------------------------------------------------
    def dispatch_due(self) -> int:
        """Lease the due deliveries there are free slots for and start their attempts."""
        claims = self.claim_due()
        for claim in claims:
            threading.Thread(target=self._attempt, args=(claim,), daemon=True,
                             name=f"{self.service}-webhook-{claim.endpoint_id[:8]}").start()
        return len(claims)

    def claim_due(self) -> list[Claim]:
        with self._lock:
            free = self.max_in_flight - len(self._busy)
            busy = set(self._busy)
        if free <= 0:
            return []
        deliveries, endpoints = self.tables.webhook_delivery, self.tables.webhook_endpoint
        now = self.clock()
        due = and_(deliveries.c.status == store.PENDING, deliveries.c.next_attempt_at <= now,
                   or_(deliveries.c.locked_until.is_(None), deliveries.c.locked_until <= now))
        other = deliveries.alias("other")
        claims: list[Claim] = []
        if not self._any(select(deliveries.c.id).where(due)):
            return claims
        with self.database.transaction() as session:
            # Endpoints with a due delivery and no attempt in flight anywhere, longest waiting
            # first, one slot each.
            statement = (select(deliveries.c.endpoint_id)
                         .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
                         .where(due, endpoints.c.enabled,
                                ~exists().where(other.c.endpoint_id == deliveries.c.endpoint_id,
                                                other.c.locked_until > now))
                         .group_by(deliveries.c.endpoint_id)
                         .order_by(func.min(deliveries.c.next_attempt_at))
                         .limit(free + len(busy)))
            candidates = [endpoint_id for endpoint_id in session.execute(statement).scalars()
                          if endpoint_id not in busy][:free]
            lease = now + timedelta(seconds=self.settings.webhooks_timeout_s + LEASE_MARGIN_S)
            for endpoint_id in candidates:
                claim = self._claim_one(session, endpoint_id, due, lease)
                if claim is not None:
                    claims.append(claim)
            with self._lock:
                self._busy.update(claim.endpoint_id for claim in claims)
        return claims

    def _any(self, statement) -> bool:
        """Whether ``statement`` finds a row, read in a snapshot: a pass with nothing to do
        takes no write transaction (on SQLite the file's single write lock, which every web
        request that writes needs too); one that finds work does it in a transaction that
        reads again."""
        with self.database.reading() as connection:
            return connection.execute(statement.limit(1)).first() is not None

    def _claim_one(self, session: Session, endpoint_id: str, due, lease: datetime) -> Claim | None:
        deliveries, endpoints = self.tables.webhook_delivery, self.tables.webhook_endpoint
        statement = (select(deliveries.c.id, deliveries.c.event_id, deliveries.c.body,
                            endpoints.c.url, endpoints.c.secret)
                     .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
                     .where(deliveries.c.endpoint_id == endpoint_id, due, endpoints.c.enabled)
                     .order_by(deliveries.c.next_attempt_at, deliveries.c.created_at)
                     .limit(1))
        if self._postgres():
            statement = statement.with_for_update(of=deliveries, skip_locked=True)
        row = session.execute(statement).first()
        if row is None:
            return None
        session.execute(update(deliveries).where(deliveries.c.id == row.id)
                        .values(locked_until=lease))
        return Claim(row.id, endpoint_id, row.event_id, row.body, row.url, row.secret)

    def _attempt(self, claim: Claim) -> None:
        try:
            try:
                headers = signed_headers(claim.secret, claim.event_id, self.clock(), claim.body)
                outcome = self.sender(self.policy, claim.url, claim.body.encode("utf-8"),
                                      headers, timeout=self.settings.webhooks_timeout_s)
            except Exception as exc:  # noqa: BLE001 - a failed attempt, whatever the cause
                outcome = Outcome(None, f"{type(exc).__name__}: {exc}", 0.0)
            self.record(claim, outcome)
        except Exception:  # noqa: BLE001 - the lease expires and the attempt is made again
            log.exception("could not record a webhook attempt", extra={
                "service": self.service, "delivery_id": claim.delivery_id})
        finally:
            with self._lock:
                self._busy.discard(claim.endpoint_id)
            self._wake.set()

    def record(self, claim: Claim, outcome: Outcome) -> None:
        """The result of one attempt: the delivery's state and the endpoint's health."""
        deliveries, endpoints = self.tables.webhook_delivery, self.tables.webhook_endpoint
        now = self.clock()
        with self.database.transaction() as session:
            attempts = session.execute(select(deliveries.c.attempts)
                                       .where(deliveries.c.id == claim.delivery_id)
                                       ).scalar_one_or_none()
            if attempts is None:
                return  # the endpoint was deleted meanwhile
            attempts += 1
            values = {"attempts": attempts, "last_status_code": outcome.status_code,
                      "last_attempt_at": now, "locked_until": None}
            if outcome.delivered:
                values.update(status=store.DELIVERED, delivered_at=now, next_attempt_at=None,
                              last_error=None)
                session.execute(update(endpoints).where(endpoints.c.id == claim.endpoint_id)
                                .values(failing_since=None))
            else:
                values["last_error"] = (outcome.error or f"answered {outcome.status_code}")[:1000]
                delays = self.settings.webhooks_retry_delays
                if attempts > len(delays):
                    values.update(status=store.FAILED, next_attempt_at=None)
                else:
                    factor = random.uniform(1 - JITTER, 1 + JITTER)
                    values["next_attempt_at"] = now + timedelta(seconds=delays[attempts - 1] * factor)
                self._endpoint_failed(session, claim.endpoint_id, outcome, now)
            session.execute(update(deliveries).where(deliveries.c.id == claim.delivery_id)
                            .values(**values))
        log.info("webhook attempt", extra={
            "service": self.service, "endpoint_id": claim.endpoint_id,
            "event_id": claim.event_id, "status_code": outcome.status_code,
            "delivered": outcome.delivered, "attempts": attempts, "error": outcome.error})

    def _endpoint_failed(self, session: Session, endpoint_id: str, outcome: Outcome,
                         now: datetime) -> None:
        endpoints = self.tables.webhook_endpoint
        if outcome.status_code == GONE:
            store.disable_endpoint(session, self.tables, endpoint_id, reason="410 Gone", now=now)
            return
        failing_since = as_utc(session.execute(
            select(endpoints.c.failing_since).where(endpoints.c.id == endpoint_id)
        ).scalar_one_or_none())
        if failing_since is None:
            session.execute(update(endpoints).where(endpoints.c.id == endpoint_id)
                            .values(failing_since=now))
        elif now - failing_since >= timedelta(days=self.settings.webhooks_disable_after_days):
            days = self.settings.webhooks_disable_after_days
            store.disable_endpoint(session, self.tables, endpoint_id, now=now,
                                   reason=f"failing for more than {days:g} days")

    def _postgres(self) -> bool:
        return self.database.dialect == "postgresql"

