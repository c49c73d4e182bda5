"""What every survey view needs: the service context, the rules, views of records."""
from __future__ import annotations

from typing import Any

from flask import current_app, g, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.survey import service
from services.survey.adapters.orm import (ClientEntry, InvitationLinkRecord, InvitationRecord,
                                          SurveyRecord)
from services.survey.domain import lifecycle
from services.survey.domain.invitations import allowed_invitation_actions, link_state
from shared.clock import as_utc


def ctx():
    return current_app.extensions["clientloop"]


def rules() -> service.SurveyRules:
    return ctx().extras["rules"]


def delivery() -> service.Delivery:
    return ctx().extras["delivery"]


def actor() -> str:
    principal = g.get("principal")
    return principal.name if principal else "anonymous"


def link_base() -> str:
    """Where links point: ``{CLIENTLOOP_PUBLIC_URL}/survey``, or this service's own URL
    (behind the gateway, with ``CLIENTLOOP_PROXY_HOPS``, that is the public one too)."""
    public_url = ctx().settings.public_url
    if public_url:
        return f"{public_url.rstrip('/')}/survey"
    return f"{request.host_url.rstrip('/')}{request.script_root}"


def survey_view(survey: SurveyRecord) -> dict[str, Any]:
    definition = survey.definition
    return {
        "id": survey.id, "status": survey.status, "title": definition.get("title"),
        "intro": definition.get("intro"), "languages": definition.get("languages"),
        "questions": definition.get("questions"),
        "send_after_complaint_resolved": survey.send_after_complaint_resolved,
        "allowed_actions": lifecycle.allowed_actions(survey.status),
        "created_by": survey.created_by, "version": survey.version,
        "created_at": as_utc(survey.created_at), "updated_at": as_utc(survey.updated_at),
        "published_at": as_utc(survey.published_at), "closed_at": as_utc(survey.closed_at),
    }


def invitation_views(session: Session, invitations: list[InvitationRecord],
                     urls: dict[str, str] | None = None) -> list[dict[str, Any]]:
    if not invitations:
        return []
    now = ctx().clock()
    ids = [invitation.id for invitation in invitations]
    links = dict(session.execute(
        select(InvitationLinkRecord.invitation_id, func.count())
        .where(InvitationLinkRecord.invitation_id.in_(ids))
        .group_by(InvitationLinkRecord.invitation_id)).all())
    client_ids = {invitation.client_id for invitation in invitations}
    names = dict(session.execute(select(ClientEntry.id, ClientEntry.name)
                                 .where(ClientEntry.id.in_(client_ids))).all())
    statuses = dict(session.execute(
        select(SurveyRecord.id, SurveyRecord.status)
        .where(SurveyRecord.id.in_({invitation.survey_id for invitation in invitations}))).all())
    views = []
    for invitation in invitations:
        state = link_state(service.dates_of(invitation), statuses[invitation.survey_id], now)
        view = {
            "id": invitation.id, "survey_id": invitation.survey_id,
            "client_id": invitation.client_id, "client_name": names.get(invitation.client_id),
            "language": invitation.language, "state": state.value,
            "allowed_actions": allowed_invitation_actions(state),
            "created_at": as_utc(invitation.created_at), "created_by": invitation.created_by,
            "expires_at": as_utc(invitation.expires_at),
            "revoked_at": as_utc(invitation.revoked_at),
            "answered_at": as_utc(invitation.answered_at),
            "complaint_id": invitation.complaint_id, "links": links.get(invitation.id, 0),
            "delivery": invitation.delivery, "delivery_status": invitation.delivery_status,
            "delivered_at": as_utc(invitation.delivered_at),
            "delivery_error": invitation.delivery_error, "version": invitation.version,
        }
        if urls and invitation.id in urls:
            view["url"] = urls[invitation.id]
        views.append(view)
    return views
