"""Read queries shared by the API and the staff console: surveys, invitations, the client
directory. Each builds a ``select()`` that the caller pages in SQL (``LIMIT``/``OFFSET`` and a
count), or reads a few numbers for the rows of one page.
"""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import Select, and_, func, not_, or_, select
from sqlalchemy.orm import Session

from services.survey.adapters.orm import (ClientEntry, InvitationRecord, ResponseRecord,
                                          SurveyRecord)
from services.survey.domain.invitations import LinkState
from services.survey.domain.lifecycle import SurveyStatus


def surveys(status: str | None = None) -> Select:
    """Surveys, newest first (optionally in one ``status``)."""
    statement = select(SurveyRecord).order_by(SurveyRecord.created_at.desc(), SurveyRecord.id)
    if status is not None:
        statement = statement.where(SurveyRecord.status == status)
    return statement


def response_counts(session: Session, survey_ids: Sequence[str]) -> dict[str, int]:
    """How many responses each survey has, for the surveys of one page."""
    if not survey_ids:
        return {}
    return dict(session.execute(
        select(ResponseRecord.survey_id, func.count())
        .where(ResponseRecord.survey_id.in_(list(survey_ids)))
        .group_by(ResponseRecord.survey_id)).all())


def invitation_counts(session: Session, survey_ids: Sequence[str]) -> dict[str, int]:
    """How many invitations each survey has, for the surveys of one page."""
    if not survey_ids:
        return {}
    return dict(session.execute(
        select(InvitationRecord.survey_id, func.count())
        .where(InvitationRecord.survey_id.in_(list(survey_ids)))
        .group_by(InvitationRecord.survey_id)).all())


def state_filter(state: str, now: datetime):
    """SQL for the link states of ``domain.invitations.link_state``, first match winning
    (the statement must join the invitation's survey)."""
    answered = InvitationRecord.answered_at.is_not(None)
    revoked = InvitationRecord.revoked_at.is_not(None)
    active = SurveyRecord.status == SurveyStatus.ACTIVE.value
    expired = InvitationRecord.expires_at <= now
    match LinkState(state):
        case LinkState.ANSWERED:
            return answered
        case LinkState.REVOKED:
            return and_(not_(answered), revoked)
        case LinkState.CLOSED:
            return and_(not_(answered), not_(revoked), not_(active))
        case LinkState.EXPIRED:
            return and_(not_(answered), not_(revoked), active, expired)
        case LinkState.OPEN:
            return and_(not_(answered), not_(revoked), active, not_(expired))


def invitations(survey_id: str, *, now: datetime, state: str | None = None,
                client_id: str | None = None) -> Select:
    """A survey's invitations, newest first (optionally in one link ``state``, or one
    client's)."""
    statement = (select(InvitationRecord)
                 .join(SurveyRecord, SurveyRecord.id == InvitationRecord.survey_id)
                 .where(InvitationRecord.survey_id == survey_id)
                 .order_by(InvitationRecord.created_at.desc(), InvitationRecord.id))
    if client_id is not None:
        statement = statement.where(InvitationRecord.client_id == client_id)
    if state is not None:
        statement = statement.where(state_filter(state, now))
    return statement


def invitable_clients(search: str = "") -> Select:
    """Clients that can be invited (known, active, not erased), by name; ``search`` matches
    any part of the name, or the whole id."""
    statement = (select(ClientEntry)
                 .where(ClientEntry.known.is_(True), ClientEntry.status == "active",
                        ClientEntry.erased_at.is_(None))
                 .order_by(ClientEntry.name, ClientEntry.id))
    search = search.strip()
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(or_(ClientEntry.name.ilike(pattern, escape="\\"),
                                        ClientEntry.id == search))
    return statement


def client_names(session: Session, client_ids: Sequence[str]) -> dict[str, str | None]:
    if not client_ids:
        return {}
    return dict(session.execute(select(ClientEntry.id, ClientEntry.name)
                                .where(ClientEntry.id.in_(list(set(client_ids))))).all())
