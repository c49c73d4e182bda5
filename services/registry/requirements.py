"""Requirement and change-request use cases: load → call the domain → save → record events.

Rules live in ``services.registry.domain.requirements``. Each function runs in the caller's
unit of work, so a change, its history entry and its outbox event commit together.

Concurrency: every write locks the requirement row first (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite serialises writers), then the change request. Two approvals touching the
same field therefore run one after the other, and the second finds its ``base`` moved on: 409.
"""
from __future__ import annotations

import statistics
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import and_, case, func, not_, select, update
from sqlalchemy.orm import Session

from services.registry.adapters.orm import (ChangeRequestRecord, ClientRecord,
                                            RequirementHistoryRecord, RequirementRecord, platform)
from services.registry.domain import requirements as domain
from services.registry.domain.money import Money, money_output
from services.registry.rules import RegistryRules
from shared.bus.outbox import record_event
from shared.clock import as_utc
from shared.db import get_or_not_found
from shared.errors import ActionNotAllowed, Conflict, Forbidden, ValidationFailed
from shared.web.pagination import paginate
from shared.web.versioning import check_version

SERVICE = "registry"
ERASED_TEXT = "(erased)"
FOUR_EYES = ("Four eyes: whoever submitted a change request may not decide it; ask someone "
             "else to approve or reject it.")
#: Free-text fields of requirement and change-request events (blanked in stored events and
#: answers when the client is erased).
PERSONAL_DATA = ("title", "description", "acceptance_criteria", "source_ref", "summary",
                 "note", "reason", "decision_note", "changes", "proposed", "history")


def today(now: datetime, rules: RegistryRules) -> date:
    return as_utc(now).astimezone(rules.zone).date()


def _json_value(name: str, value: Any) -> Any:
    if name == "due_on" and isinstance(value, date):
        return value.isoformat()
    if name == "acceptance_criteria" and value is not None:
        return [str(item).strip() for item in value]
    return value


def _stored_value(name: str, value: Any) -> Any:
    if name == "due_on" and isinstance(value, str):
        return date.fromisoformat(value)
    return value


def current_values(requirement: RequirementRecord, names) -> dict[str, Any]:
    return {name: _json_value(name, getattr(requirement, name)) for name in names}


def _history(session: Session, requirement: RequirementRecord, *, at: datetime, by: str,
             action: str, from_status: str | None = None, to_status: str | None = None,
             changes: Mapping[str, Any] | None = None, change_request_id: str | None = None,
             note: str | None = None) -> None:
    session.add(RequirementHistoryRecord(
        requirement_id=requirement.id, at=at, by=by, action=action, from_status=from_status,
        to_status=to_status, changes=dict(changes) if changes else None,
        change_request_id=change_request_id, note=note))


def _event_data(requirement: RequirementRecord, **extra: Any) -> dict[str, Any]:
    return {"requirement_id": requirement.id, "client_id": requirement.client_id,
            "title": requirement.title, "priority": requirement.priority,
            "status": requirement.status, **extra}


def _publish(session: Session, event_type: str, client_id: str, data: Mapping[str, Any],
             now: datetime) -> None:
    record_event(session, platform, service=SERVICE, event_type=event_type, subject=client_id,
                 data=data, time=now)


def _writable_client(session: Session, client_id: str) -> ClientRecord:
    client = get_or_not_found(session, ClientRecord, client_id, "client")
    if client.status != "active":
        raise Conflict(f"The client is {client.status}: it takes no new requirements.")
    return client


def get_requirement(session: Session, requirement_id: str, *,
                    for_update: bool = False) -> RequirementRecord:
    return get_or_not_found(session, RequirementRecord, requirement_id, "requirement",
                            for_update=for_update)


def get_change_request(session: Session, change_request_id: str, *,
                       for_update: bool = False) -> ChangeRequestRecord:
    return get_or_not_found(session, ChangeRequestRecord, change_request_id, "change request",
                            for_update=for_update)


# -- requirements ------------------------------------------------------------------------------

def create_requirement(session: Session, client_id: str, fields: Mapping[str, Any], *,
                       now: datetime, by: str) -> RequirementRecord:
    """A new requirement in ``proposed``; publishes ``requirement.created``."""
    _writable_client(session, client_id)
    values = {"priority": "should", "source": "other", "acceptance_criteria": [], **fields}
    if "title" not in values:
        raise ValidationFailed({"title": ["Missing data for required field."]})
    domain.validate_requirement_fields(values)
    requirement = RequirementRecord(
        id=str(uuid.uuid4()), client_id=client_id, status="proposed", version=1,
        delivered_count=0, refused_count=0, created_at=now, created_by=by, updated_at=now)
    _assign(requirement, values)
    session.add(requirement)
    session.flush()
    _history(session, requirement, at=now, by=by, action="create", to_status="proposed")
    _publish(session, "requirement.created", client_id,
             _event_data(requirement, by=by, due_on=_json_value("due_on", requirement.due_on),
                         source=requirement.source), now)
    return requirement


def _assign(requirement: RequirementRecord, values: Mapping[str, Any]) -> dict[str, Any]:
    """Set ``values`` on the requirement; answers what changed (field → new JSON value)."""
    changes = {}
    for name in domain.EDITABLE_FIELDS:
        if name not in values:
            continue
        value = values[name]
        if isinstance(value, str) and name != "title":
            value = value.strip() or None
        elif name == "title":
            value = value.strip()
        if name == "acceptance_criteria":
            value = _json_value(name, value or [])
        if name == "priority" and value is None:
            continue
        if getattr(requirement, name) != value:
            setattr(requirement, name, value)
            changes[name] = _json_value(name, value)
    return changes


def update_requirement(session: Session, requirement_id: str, changes: Mapping[str, Any], *,
                       expected_version: int | None, now: datetime, by: str) -> RequirementRecord:
    """Edit the fields until ``approved``; afterwards a baselined field is a 409 naming the
    change-request path. Publishes ``requirement.changed`` when something changed."""
    requirement = get_requirement(session, requirement_id, for_update=True)
    check_version(requirement.version, expected_version)
    if requirement.status in domain.FINAL_STATUSES:
        raise Conflict(f"The requirement is {requirement.status}: it no longer changes.")
    baselined = [name for name in changes if name in domain.BASELINED_FIELDS]
    if domain.is_baselined(requirement.status) and baselined:
        path = domain.CHANGE_REQUEST_PATH.format(id=requirement.id)
        raise Conflict(
            f"The requirement is baselined ({requirement.status}): {', '.join(baselined)} "
            f"change only through a change request: POST {path}.",
            change_request_path=path, baselined_fields=baselined)
    if "priority" in changes and changes["priority"] is None:
        raise ValidationFailed({"priority": ["Must not be null."]})
    if "source" in changes and changes["source"] is None:
        raise ValidationFailed({"source": ["Must not be null."]})
    domain.validate_requirement_fields(changes)
    applied = _assign(requirement, changes)
    if not applied:
        return requirement
    requirement.version += 1
    requirement.updated_at = now
    _history(session, requirement, at=now, by=by, action="edit", changes=applied)
    _publish(session, "requirement.changed", requirement.client_id,
             _event_data(requirement, changes=applied, change_request_id=None, by=by), now)
    return requirement


def act(session: Session, requirement_id: str, action: str, fields: Mapping[str, Any], *,
        expected_version: int | None, now: datetime, by: str) -> RequirementRecord:
    """A workflow action; 409 with ``allowed_actions`` when the status does not allow it.
    Publishes ``requirement.status_changed``."""
    domain.parse_action(action)
    requirement = get_requirement(session, requirement_id, for_update=True)
    check_version(requirement.version, expected_version)
    target = domain.check_action(action, requirement.status)
    domain.validate_action_fields(action, fields)
    reason = (fields.get("reason") or "").strip() or None
    note = (fields.get("note") or "").strip() or None
    source = requirement.status
    requirement.status = target
    if action == "deliver":
        requirement.delivered_count += 1
    elif action == "refuse":
        requirement.refused_count += 1
    elif action == "accept":
        requirement.accepted_at = now
    requirement.version += 1
    requirement.updated_at = now
    text = reason or note
    if reason and note:
        text = f"{reason}\n{note}"
    _history(session, requirement, at=now, by=by, action=action, from_status=source,
             to_status=target, note=text)
    extra: dict[str, Any] = {"from_status": source, "action": action, "by": by}
    if reason:
        extra["reason"] = reason
    if note:
        extra["note"] = note
    _publish(session, "requirement.status_changed", requirement.client_id,
             _event_data(requirement, **extra), now)
    return requirement


def history(session: Session, requirement_id: str) -> list[RequirementHistoryRecord]:
    return list(session.execute(
        select(RequirementHistoryRecord)
        .where(RequirementHistoryRecord.requirement_id == requirement_id)
        .order_by(RequirementHistoryRecord.id)).scalars())


def overdue_clause(on: date):
    return and_(RequirementRecord.due_on.is_not(None), RequirementRecord.due_on < on,
                RequirementRecord.status.not_in(domain.DONE_STATUSES))


def requirements_page(session: Session, filters: Mapping[str, Any], page: int, per_page: int, *,
                      on: date) -> dict[str, Any]:
    return paginate(session, requirements_statement(filters, on=on), page, per_page)


def requirements_statement(filters: Mapping[str, Any], *, on: date):
    """Requirements matching ``filters`` (client_id, status, priority, overdue), newest first."""
    statement = select(RequirementRecord)
    if filters.get("client_id"):
        statement = statement.where(RequirementRecord.client_id == str(filters["client_id"]))
    for name in ("status", "priority"):
        if filters.get(name):
            statement = statement.where(getattr(RequirementRecord, name) == filters[name])
    if filters.get("overdue") is not None:
        clause = overdue_clause(on)
        statement = statement.where(clause if filters["overdue"] else not_(clause))
    return statement.order_by(RequirementRecord.created_at.desc(), RequirementRecord.id)


def requirement_view(requirement: RequirementRecord, on: date, *,
                     entries: list[RequirementHistoryRecord] | None = None) -> dict[str, Any]:
    view = {name: getattr(requirement, name) for name in (
        "id", "client_id", "title", "description", "priority", "source", "source_ref", "owner",
        "due_on", "acceptance_criteria", "status", "version", "created_at", "created_by",
        "updated_at", "accepted_at", "delivered_count", "refused_count")}
    view["overdue"] = domain.is_overdue(requirement.status, requirement.due_on, on)
    view["allowed_actions"] = domain.allowed_actions(requirement.status)
    view["baselined"] = domain.is_baselined(requirement.status)
    if entries is not None:
        view["history"] = [{name: getattr(entry, name) for name in (
            "at", "by", "action", "from_status", "to_status", "changes", "change_request_id",
            "note")} for entry in entries]
    return view


# -- change requests ---------------------------------------------------------------------------

def submit_change_request(session: Session, requirement_id: str, fields: Mapping[str, Any], *,
                          now: datetime, by: str, rules: RegistryRules) -> ChangeRequestRecord:
    """Propose new values for baselined fields of an approved (in progress, delivered)
    requirement; publishes ``change_request.submitted``."""
    requirement = get_requirement(session, requirement_id, for_update=True)
    if requirement.status not in domain.CHANGEABLE_STATUSES:
        raise Conflict(
            f"The requirement is {requirement.status}: change requests apply to a baselined "
            f"requirement that is {', '.join(domain.CHANGEABLE_STATUSES)}"
            + (" (edit it with PATCH until it is approved)."
               if not domain.is_baselined(requirement.status) else "."))
    proposed = dict(fields.get("proposed") or {})
    domain.validate_proposed(proposed)
    summary = (fields.get("summary") or "").strip()
    if not summary:
        raise ValidationFailed({"summary": ["Must not be blank."]})
    impact = fields.get("impact") or {}
    cost = impact.get("cost")
    money = None if cost is None else Money.parse(cost, rules.clients.currency, field="impact.cost")
    normalised = {name: _json_value(name, value) for name, value in proposed.items()}
    if "title" in normalised:
        normalised["title"] = normalised["title"].strip()
    record = ChangeRequestRecord(
        id=str(uuid.uuid4()), requirement_id=requirement.id, client_id=requirement.client_id,
        summary=summary, proposed=normalised, base=current_values(requirement, normalised),
        schedule_days=int(impact.get("schedule_days") or 0),
        cost_amount=None if money is None else money.amount,
        cost_currency=None if money is None else money.currency,
        risk=impact.get("risk") or "low", status="submitted", submitted_by=by, submitted_at=now,
        version=1)
    session.add(record)
    session.flush()
    _history(session, requirement, at=now, by=by, action="change_request_submitted",
             change_request_id=record.id, note=summary)
    _publish(session, "change_request.submitted", requirement.client_id,
             _cr_event_data(record, rules, by=by, summary=summary, proposed=normalised), now)
    return record


def impact_of(record: ChangeRequestRecord, rules: RegistryRules) -> dict[str, Any]:
    cost = None
    if record.cost_amount is not None:
        cost = money_output(Decimal(record.cost_amount), record.cost_currency or rules.clients.currency)
    return {"schedule_days": record.schedule_days, "cost": cost, "risk": record.risk}


def _cr_event_data(record: ChangeRequestRecord, rules: RegistryRules, **extra: Any) -> dict[str, Any]:
    impact = impact_of(record, rules)
    if impact["cost"] is not None:
        impact["cost"] = {"amount": f"{Decimal(record.cost_amount).quantize(Decimal('0.01'))}",
                          "currency": record.cost_currency}
    return {"change_request_id": record.id, "requirement_id": record.requirement_id,
            "client_id": record.client_id, "impact": impact, "status": record.status, **extra}


def check_four_eyes(session: Session, change_request_id: str, by: str) -> None:
    """The token name that submitted a change request may not decide it (403)."""
    record = get_change_request(session, change_request_id)
    if record.submitted_by == by:
        raise Forbidden(FOUR_EYES)


def decide(session: Session, change_request_id: str, decision: str, note: str | None, *,
           expected_version: int | None, now: datetime, by: str,
           rules: RegistryRules) -> ChangeRequestRecord:
    """Approve (apply ``proposed`` to the requirement, in this transaction) or reject.

    403 for the submitter; 409 when the change request is no longer submitted, when the
    requirement is no longer changeable, or when a proposed field moved on since submission."""
    found = get_change_request(session, change_request_id)
    if found.submitted_by == by:
        raise Forbidden(FOUR_EYES)
    if decision not in domain.DECISIONS:
        raise ValidationFailed({"decision": [f"Must be one of: {', '.join(domain.DECISIONS)}."]})
    requirement = get_requirement(session, found.requirement_id, for_update=True)
    record = get_change_request(session, change_request_id, for_update=True)
    check_version(record.version, expected_version)
    if record.status != "submitted":
        raise ActionNotAllowed(decision, record.status, domain.cr_allowed_actions(record.status))
    note = (note or "").strip() or None
    if decision == "approve":
        if requirement.status not in domain.CHANGEABLE_STATUSES:
            raise Conflict(f"The requirement is {requirement.status}: the change can no longer "
                           "be applied.")
        moved = domain.stale_fields(record.base, current_values(requirement, record.base))
        if moved:
            raise Conflict(
                f"The requirement moved on since this change request was submitted "
                f"({', '.join(moved)} changed); submit a new change request.",
                stale_fields=moved)
        applied = _assign(requirement, {name: _stored_value(name, value)
                                        for name, value in record.proposed.items()})
        requirement.version += 1
        requirement.updated_at = now
        _history(session, requirement, at=now, by=by, action="change_approved", changes=applied,
                 change_request_id=record.id, note=note)
    else:
        applied = None
        _history(session, requirement, at=now, by=by, action="change_request_rejected",
                 change_request_id=record.id, note=note)
    record.status = "approved" if decision == "approve" else "rejected"
    record.decided_by = by
    record.decided_at = now
    record.decision_note = note
    record.version += 1
    _publish(session, "change_request.decided", record.client_id,
             _cr_event_data(record, rules, by=by, decision=decision, note=note), now)
    if applied is not None:
        _publish(session, "requirement.changed", requirement.client_id,
                 _event_data(requirement, changes=applied, change_request_id=record.id, by=by), now)
    return record


def withdraw_change_request(session: Session, change_request_id: str, *,
                            expected_version: int | None, now: datetime, by: str,
                            rules: RegistryRules, note: str | None = None) -> ChangeRequestRecord:
    found = get_change_request(session, change_request_id)
    requirement = get_requirement(session, found.requirement_id, for_update=True)
    record = get_change_request(session, change_request_id, for_update=True)
    check_version(record.version, expected_version)
    if record.status != "submitted":
        raise ActionNotAllowed("withdraw", record.status, domain.cr_allowed_actions(record.status))
    note = (note or "").strip() or None
    record.status = "withdrawn"
    record.decided_by = by
    record.decided_at = now
    record.decision_note = note
    record.version += 1
    _history(session, requirement, at=now, by=by, action="change_request_withdrawn",
             change_request_id=record.id, note=note)
    _publish(session, "change_request.decided", record.client_id,
             _cr_event_data(record, rules, by=by, decision="withdraw", note=note), now)
    return record


def change_requests_page(session: Session, filters: Mapping[str, Any], page: int,
                         per_page: int) -> dict[str, Any]:
    return paginate(session, change_requests_statement(filters), page, per_page)


def change_requests_statement(filters: Mapping[str, Any]):
    """Change requests matching ``filters`` (status, client_id, requirement_id), newest first."""
    statement = select(ChangeRequestRecord)
    for name in ("status", "client_id", "requirement_id"):
        if filters.get(name):
            statement = statement.where(getattr(ChangeRequestRecord, name) == str(filters[name]))
    return statement.order_by(ChangeRequestRecord.submitted_at.desc(), ChangeRequestRecord.id)


def client_names(session: Session, client_ids) -> dict[str, str]:
    if not client_ids:
        return {}
    return dict(session.execute(select(ClientRecord.id, ClientRecord.name)
                                .where(ClientRecord.id.in_(list(client_ids)))).all())


def requirement_titles(session: Session, requirement_ids) -> dict[str, str]:
    if not requirement_ids:
        return {}
    return dict(session.execute(select(RequirementRecord.id, RequirementRecord.title)
                                .where(RequirementRecord.id.in_(list(requirement_ids)))).all())


def change_request_view(record: ChangeRequestRecord, rules: RegistryRules) -> dict[str, Any]:
    view = {name: getattr(record, name) for name in (
        "id", "requirement_id", "client_id", "summary", "proposed", "status", "submitted_by",
        "submitted_at", "decided_by", "decided_at", "decision_note", "version")}
    view["impact"] = impact_of(record, rules)
    view["allowed_actions"] = domain.cr_allowed_actions(record.status)
    return view


# -- report ------------------------------------------------------------------------------------

def report(session: Session, *, on: date, client_id: str | None = None) -> dict[str, Any]:
    """Counts by status and priority, overdue, change requests by outcome, approved schedule
    impact, median days from proposed to accepted, share of deliveries refused at least once."""
    where = [] if client_id is None else [RequirementRecord.client_id == client_id]
    by_status = {status: 0 for status in domain.STATUSES}
    by_priority = {priority: 0 for priority in domain.PRIORITIES}
    rows = session.execute(select(RequirementRecord.status, RequirementRecord.priority,
                                  func.count()).where(*where)
                           .group_by(RequirementRecord.status, RequirementRecord.priority)).all()
    for status, priority, count in rows:
        by_status[status] = by_status.get(status, 0) + count
        by_priority[priority] = by_priority.get(priority, 0) + count
    overdue = session.execute(select(func.count()).select_from(RequirementRecord)
                              .where(overdue_clause(on), *where)).scalar_one()
    cr_where = [] if client_id is None else [ChangeRequestRecord.client_id == client_id]
    cr_counts = dict(session.execute(select(ChangeRequestRecord.status, func.count())
                                     .where(*cr_where)
                                     .group_by(ChangeRequestRecord.status)).all())
    impact_days = session.execute(select(func.coalesce(func.sum(ChangeRequestRecord.schedule_days), 0))
                                  .where(ChangeRequestRecord.status == "approved", *cr_where)
                                  ).scalar_one()
    accepted = session.execute(select(RequirementRecord.created_at, RequirementRecord.accepted_at)
                               .where(RequirementRecord.status == "accepted",
                                      RequirementRecord.accepted_at.is_not(None), *where)).all()
    days = [(as_utc(done) - as_utc(start)).total_seconds() / 86400 for start, done in accepted]
    delivered, refused = session.execute(
        select(func.count(), func.coalesce(func.sum(
            case((RequirementRecord.refused_count > 0, 1), else_=0)), 0))
        .where(RequirementRecord.delivered_count > 0, *where)).one()
    return {
        "client_id": client_id,
        "total": sum(by_status.values()),
        "by_status": by_status,
        "by_priority": by_priority,
        "overdue": overdue,
        "change_requests": {
            "submitted": sum(cr_counts.values()),
            "pending": cr_counts.get("submitted", 0),
            "approved": cr_counts.get("approved", 0),
            "rejected": cr_counts.get("rejected", 0),
            "withdrawn": cr_counts.get("withdrawn", 0),
        },
        "approved_schedule_impact_days": int(impact_days or 0),
        "median_days_proposed_to_accepted": round(statistics.median(days), 2) if days else None,
        "accepted": len(days),
        "deliveries": delivered,
        "refused_deliveries_rate": round(100 * int(refused) / delivered, 2) if delivered else None,
    }


# -- erasure -----------------------------------------------------------------------------------

def _scrub_changes(changes: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not changes:
        return changes
    kept = {}
    for name, value in changes.items():
        if name in ("priority", "due_on", "source"):
            kept[name] = value
        elif name == "acceptance_criteria":
            kept[name] = []
        else:
            kept[name] = ERASED_TEXT if value is not None else None
    return kept


def erase_client_requirements(session: Session, client_id: str) -> None:
    """Remove the free texts of the client's requirements and change requests; keep status,
    priority, dates, counts and impact, so the reports stay whole."""
    requirement_ids = select(RequirementRecord.id).where(RequirementRecord.client_id == client_id)
    session.execute(update(RequirementRecord).where(RequirementRecord.client_id == client_id)
                    .values(title=ERASED_TEXT, description=None, source_ref=None,
                            acceptance_criteria=[]))
    for entry in session.execute(select(RequirementHistoryRecord).where(
            RequirementHistoryRecord.requirement_id.in_(requirement_ids))).scalars():
        entry.note = None
        entry.changes = _scrub_changes(entry.changes)
    for record in session.execute(select(ChangeRequestRecord).where(
            ChangeRequestRecord.client_id == client_id)).scalars():
        record.summary = ERASED_TEXT
        record.decision_note = None
        record.proposed = _scrub_changes(record.proposed)
        record.base = _scrub_changes(record.base)
    session.flush()


def open_requirements_of(session: Session, client_id: str, *, on: date) -> list[dict[str, Any]]:
    """The client's requirements for its page, newest first (at most 50)."""
    rows = session.execute(select(RequirementRecord)
                           .where(RequirementRecord.client_id == client_id)
                           .order_by(RequirementRecord.created_at.desc(), RequirementRecord.id)
                           .limit(50)).scalars()
    return [requirement_view(row, on) for row in rows]


__all__ = ["create_requirement", "update_requirement", "act", "submit_change_request",
           "decide", "withdraw_change_request", "report", "erase_client_requirements",
           "requirement_view", "change_request_view", "check_four_eyes"]
