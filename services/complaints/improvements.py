"""Improvement-action use cases: load → call the domain → save (compare-and-set) → record
events, inside the caller's unit of work (the change, its timeline and its outbox events commit
together). The event subject is the improvement's id (an improvement is about no client)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Callable, Mapping
from uuid import UUID

from sqlalchemy.orm import Session

from services.complaints.adapters import improvements as repository
from services.complaints.adapters.orm import platform
from services.complaints.domain.events import DomainEvent
from services.complaints.domain.improvement import Improvement, plan_improvement
from shared.bus.outbox import record_event
from shared.errors import Conflict, NotFound, StaleVersion
from shared.web.versioning import check_version

SERVICE = "complaints"
MAX_ATTEMPTS = 5


def _publish(session: Session, events: list[DomainEvent]) -> None:
    for event in events:
        record_event(session, platform, service=SERVICE, event_type=event.type,
                     subject=str(event.subject), data=event.json_data(), time=event.occurred_at)


def get_improvement(session: Session, improvement_id: UUID | str) -> Improvement:
    improvement = repository.load_improvement(session, improvement_id)
    if improvement is None:
        raise NotFound(f"No improvement action with id {improvement_id}.")
    return improvement


def create_improvement(session: Session, fields: Mapping[str, Any], *, by: str,
                       now: datetime) -> Improvement:
    """Plan an improvement action; publishes ``improvement.created``."""
    improvement, events = plan_improvement(improvement_id=uuid.uuid4(), fields=fields, by=by,
                                           now=now)
    repository.insert_improvement(session, improvement)
    _publish(session, events)
    return improvement


def change_improvement(session: Session, improvement_id: UUID | str,
                       change: Callable[[Improvement], list[DomainEvent]], *,
                       expected_version: int | None) -> Improvement:
    """Load (row-locked), apply ``change``, compare-and-set; retried on a lost race without
    ``If-Match``, 412 with a stale one."""
    for _attempt in range(MAX_ATTEMPTS):
        improvement = repository.load_improvement(session, improvement_id, for_update=True)
        if improvement is None:
            raise NotFound(f"No improvement action with id {improvement_id}.")
        check_version(improvement.version, expected_version)
        loaded = improvement.version
        events = change(improvement)
        if improvement.version == loaded:
            return improvement
        if repository.save_improvement(session, improvement, loaded_version=loaded):
            _publish(session, events)
            return improvement
        if expected_version is not None:
            raise StaleVersion("The improvement action changed while this request was "
                               "applied; reload it and retry.", current_version=loaded + 1)
    raise Conflict("The improvement action is being changed by others right now; retry.")


def act_on_improvement(session: Session, improvement_id: UUID | str, action: Any,
                       note: str | None, *, by: str, now: datetime,
                       expected_version: int | None = None) -> Improvement:
    return change_improvement(session, improvement_id,
                              lambda improvement: improvement.act(action, note, by, now),
                              expected_version=expected_version)


def correct_improvement(session: Session, improvement_id: UUID | str,
                        changes: Mapping[str, Any], *, by: str, now: datetime,
                        expected_version: int | None = None) -> Improvement:
    return change_improvement(session, improvement_id,
                              lambda improvement: improvement.correct(changes, by, now),
                              expected_version=expected_version)
