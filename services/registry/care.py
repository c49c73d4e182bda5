"""Client care use cases: the communication plan, the interaction log, and follow-ups due
. Rules live in ``services.registry.domain.care``; this module loads, saves and
publishes.

Each plan row keeps ``next_due_on`` — (the last interaction's date, or ``starts_on``) +
``frequency_days``, never before ``starts_on`` — recomputed whenever the plan is saved or an
interaction is logged, so "who is due on date D" is one indexed query. Dates are calendar dates
in ``CLIENTLOOP_TIMEZONE``. Only active clients are due: an archived client keeps its plan but
is not chased, an erased client has none.
"""
from __future__ import annotations

import logging
import uuid
from datetime import date, datetime
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.registry.adapters.orm import (ClientRecord, CommunicationPlanRecord,
                                            FollowupNoticeRecord, InteractionRecord, platform)
from services.registry.domain.care import CommunicationPlan, Interaction, next_due_on
from services.registry.rules import RegistryRules
from services.registry.service import get_client
from shared.bus.outbox import record_event
from shared.clock import as_utc
from shared.errors import Conflict, NotFound, StaleVersion, ValidationFailed
from shared.web.pagination import page_of
from shared.web.versioning import check_version

SERVICE = "registry"
log = logging.getLogger("clientloop.registry.care")
EARLIEST = date(1900, 1, 1)  # dates and times before this are refused as typing mistakes
LATEST = date(9000, 1, 1)    # ...and after this (date arithmetic must not overflow)


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    return as_utc(moment).astimezone(zone).date()


def today(now: datetime, rules: RegistryRules) -> date:
    return local_date(now, rules.zone)


def _writable_client(session: Session, client_id: str) -> ClientRecord:
    client = get_client(session, client_id, for_update=True)
    if client.status == "erased":
        raise Conflict("An erased client has no care records any more.")
    return client


def last_interaction_at(session: Session, client_id: str) -> datetime | None:
    latest = session.execute(select(func.max(InteractionRecord.occurred_at))
                             .where(InteractionRecord.client_id == client_id)).scalar_one()
    return as_utc(latest) if latest is not None else None


def last_interactions_at(session: Session, client_ids: list[str]) -> dict[str, datetime]:
    """The last interaction of each of ``client_ids`` that has one, in one grouped query
    (``ix_interaction_client_time``)."""
    if not client_ids:
        return {}
    latest = func.max(InteractionRecord.occurred_at)
    rows = session.execute(select(InteractionRecord.client_id, latest)
                           .where(InteractionRecord.client_id.in_(client_ids))
                           .group_by(InteractionRecord.client_id)).all()
    return {client_id: as_utc(at) for client_id, at in rows if at is not None}


def _next_due(plan: CommunicationPlanRecord | CommunicationPlan, last: datetime | None,
              rules: RegistryRules) -> date:
    domain_plan = plan if isinstance(plan, CommunicationPlan) else CommunicationPlan(
        plan.goal, plan.channel, plan.frequency_days, plan.owner, plan.starts_on)
    return next_due_on(domain_plan, None if last is None else local_date(last, rules.zone))


# -- communication plan ------------------------------------------------------------------------

def get_plan(session: Session, client_id: str) -> CommunicationPlanRecord:
    get_client(session, client_id)  # 404 for an unknown client
    plan = session.get(CommunicationPlanRecord, client_id)
    if plan is None:
        raise NotFound(f"Client {client_id} has no communication plan yet.")
    return plan


def put_plan(session: Session, client_id: str, fields: Mapping[str, Any], *,
             expected_version: int | None, now: datetime, by: str,
             rules: RegistryRules) -> tuple[CommunicationPlanRecord, bool]:
    """Create or replace the client's plan. Returns the plan and whether it was created.

    ``starts_on`` defaults to today (the day the plan is saved); ``owner`` to the client's
    owner, else whoever saves the plan. A stale ``If-Match`` (or any ``If-Match`` while the
    client has no plan) is refused; saving the same plan again changes nothing.
    """
    client = _writable_client(session, client_id)
    existing = session.get(CommunicationPlanRecord, client_id,
                           with_for_update=True, populate_existing=True)
    if existing is None and expected_version is not None:
        raise StaleVersion("The client has no communication plan yet; send no If-Match to create one.")
    if existing is not None:
        check_version(existing.version, expected_version)
    starts_on = fields.get("starts_on")
    if starts_on is not None and not EARLIEST <= starts_on <= LATEST:
        raise ValidationFailed({"starts_on": [f"Must be between {EARLIEST} and {LATEST}."]})
    plan = CommunicationPlan.create(
        fields.get("goal"), fields.get("channel"), fields.get("frequency_days"),
        fields.get("owner") or client.owner or by, fields.get("starts_on"),
        today=today(now, rules), rules=rules.care)
    due = _next_due(plan, last_interaction_at(session, client_id), rules)
    values = {"goal": plan.goal, "channel": plan.channel, "frequency_days": plan.frequency_days,
              "owner": plan.owner, "starts_on": plan.starts_on}
    if existing is None:
        record = CommunicationPlanRecord(client_id=client_id, next_due_on=due, version=1,
                                         created_at=now, updated_at=now, updated_by=by, **values)
        session.add(record)
        session.flush()
        return record, True
    if all(getattr(existing, name) == value for name, value in values.items()):
        return existing, False
    for name, value in values.items():
        setattr(existing, name, value)
    existing.next_due_on = due
    existing.version += 1
    existing.updated_at = now
    existing.updated_by = by
    return existing, False


def plan_view(session: Session, plan: CommunicationPlanRecord) -> dict[str, Any]:
    return {"client_id": plan.client_id, "goal": plan.goal, "channel": plan.channel,
            "frequency_days": plan.frequency_days, "owner": plan.owner,
            "starts_on": plan.starts_on, "next_due_on": plan.next_due_on,
            "last_interaction_at": last_interaction_at(session, plan.client_id),
            "version": plan.version, "created_at": plan.created_at,
            "updated_at": plan.updated_at, "updated_by": plan.updated_by}


# -- interactions ------------------------------------------------------------------------------

def log_interaction(session: Session, client_id: str, fields: Mapping[str, Any], *,
                    now: datetime, by: str, rules: RegistryRules) -> InteractionRecord:
    """Log a contact with the client; ``staff`` defaults to whoever logs it and
    ``occurred_at`` to now. Moves the plan's next due date."""
    _writable_client(session, client_id)
    occurred_at = fields.get("occurred_at")
    if occurred_at is not None and as_utc(occurred_at).date() < EARLIEST:
        raise ValidationFailed({"occurred_at": [f"Must not be before {EARLIEST}."]})
    interaction = Interaction.create(
        fields.get("channel"), fields.get("summary"), fields.get("occurred_at") or now,
        fields.get("staff") or by, now=now, rules=rules.care)
    record = InteractionRecord(id=str(uuid.uuid4()), client_id=client_id,
                               channel=interaction.channel, summary=interaction.summary,
                               occurred_at=interaction.occurred_at, staff=interaction.staff,
                               created_at=now, created_by=by)
    session.add(record)
    session.flush()
    plan = session.get(CommunicationPlanRecord, client_id, with_for_update=True,
                       populate_existing=True)
    if plan is not None:
        plan.next_due_on = _next_due(plan, last_interaction_at(session, client_id), rules)
    return record


def interactions_page(session: Session, client_id: str, page: int, per_page: int) -> dict[str, Any]:
    from shared.web.pagination import paginate
    get_client(session, client_id)
    statement = (select(InteractionRecord).where(InteractionRecord.client_id == client_id)
                 .order_by(InteractionRecord.occurred_at.desc(), InteractionRecord.id))
    return paginate(session, statement, page, per_page)


# -- follow-ups --------------------------------------------------------------------------------

def _due_statement(on: date):
    return (select(CommunicationPlanRecord, ClientRecord)
            .join(ClientRecord, ClientRecord.id == CommunicationPlanRecord.client_id)
            .where(ClientRecord.status == "active", CommunicationPlanRecord.next_due_on <= on))


def followups_due(session: Session, on: date, page: int, per_page: int) -> dict[str, Any]:
    """Active clients due for follow-up on ``on``, longest overdue first."""
    statement = _due_statement(on)
    total = session.execute(select(func.count()).select_from(statement.subquery())).scalar_one()
    rows = session.execute(statement.order_by(CommunicationPlanRecord.next_due_on,
                                              ClientRecord.name, ClientRecord.id)
                           .limit(per_page).offset((page - 1) * per_page)).all()
    last = last_interactions_at(session, [client.id for _plan, client in rows])
    items = [{"client_id": client.id, "client_name": client.name, "kind": client.kind,
              "tier": client.tier, "health_band": client.health_band, "due_on": plan.next_due_on,
              "overdue_days": (on - plan.next_due_on).days, "owner": plan.owner,
              "channel": plan.channel, "goal": plan.goal, "frequency_days": plan.frequency_days,
              "last_interaction_at": last.get(client.id)}
             for plan, client in rows]
    return page_of(items, page, per_page, total)


def publish_due_followups(database, *, now: datetime, rules: RegistryRules) -> int:
    """The periodic job's part for care: ``client.followup.due`` once per client and due date.

    The ``followup_notice`` primary key (client, due date) is the guard: a second run, or a
    concurrent one, inserts nothing and publishes nothing. Returns how many were published."""
    on = today(now, rules)
    with database.transaction() as session:
        due = session.execute(select(CommunicationPlanRecord.client_id)
                              .join(ClientRecord, ClientRecord.id == CommunicationPlanRecord.client_id)
                              .where(ClientRecord.status == "active",
                                     CommunicationPlanRecord.next_due_on <= on)
                              .order_by(CommunicationPlanRecord.client_id)).scalars().all()
    published = 0
    for client_id in due:
        try:
            published += _publish_followup(database, client_id, on, now)
        except Exception:  # noqa: BLE001 - one client's failure must not stop the others
            log.exception("publishing a follow-up failed", extra={"client_id": client_id})
    return published


def _publish_followup(database, client_id: str, on: date, now: datetime) -> int:
    with database.transaction() as session:
        row = session.execute(_due_statement(on).where(
            CommunicationPlanRecord.client_id == client_id)).first()
        if row is None:
            return 0  # an interaction or a new plan moved the date meanwhile
        plan, _client = row
        event_id = str(uuid.uuid4())
        if not _claim_notice(session, client_id, plan.next_due_on, now, event_id):
            return 0
        record_event(session, platform, service=SERVICE, event_type="client.followup.due",
                     subject=client_id, time=now, event_id=event_id,
                     data={"client_id": client_id, "due_on": plan.next_due_on.isoformat(),
                           "owner": plan.owner, "channel": plan.channel, "goal": plan.goal})
        return 1


def _claim_notice(session: Session, client_id: str, due_on: date, now: datetime,
                  event_id: str) -> bool:
    table = FollowupNoticeRecord.__table__
    factory = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (factory(table)
                 .values(client_id=client_id, due_on=due_on, event_id=event_id,
                         notified_at=now)
                 .on_conflict_do_nothing(index_elements=[table.c.client_id, table.c.due_on])
                 .returning(table.c.client_id))
    return session.execute(statement).first() is not None
