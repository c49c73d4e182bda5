"""Invitations: invite clients to a survey, list, revoke and resend (a new link).

A link's token appears once, in the answer that issued it (``url``); the database keeps its
hash only and no event carries it.
"""
from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from services.survey import service
from services.survey.adapters import queries
from services.survey.api.common import actor, ctx, delivery, invitation_views, link_base, rules
from services.survey.api.idempotency import idempotent_links
from services.survey.api.schemas import (InvitationCreateSchema, InvitationItemsSchema,
                                         InvitationListArgs, InvitationSchema,
                                         OpenInvitationProblemSchema)
from shared.web.blueprint import Blueprint
from shared.web.pagination import page_schema, paginate
from shared.web.problems import PROBLEM_CONTENT_TYPE
from shared.web.versioning import expected_version, with_etag

blp = Blueprint("invitations", __name__, url_prefix="/api/v1",
                description="Invitations: personal survey links for clients.")


@blp.route("/surveys/<uuid:survey_id>/invitations")
class SurveyInvitations(MethodView):
    @blp.arguments(InvitationListArgs, location="query")
    @blp.response(200, page_schema(InvitationSchema))
    def get(self, args, survey_id):
        """The survey's invitations, newest first (optionally by ``state`` or ``client_id``)."""
        statement = queries.invitations(
            str(survey_id), now=ctx().clock(), state=args.get("state"),
            client_id=str(args["client_id"]) if "client_id" in args else None)
        with ctx().database.transaction() as session:
            service.get_survey(session, str(survey_id))
            page = paginate(session, statement, args["page"], args["per_page"])
            page["items"] = invitation_views(session, list(page["items"]))
        return page

    @idempotent_links
    @blp.arguments(InvitationCreateSchema)
    @blp.response(201, InvitationItemsSchema)
    @blp.alt_response(409, schema=OpenInvitationProblemSchema, content_type=PROBLEM_CONTENT_TYPE,
                      description="A client already holds an open invitation to the survey "
                                  "(or the survey is not active); nothing was created.")
    def post(self, fields, survey_id):
        """Invite one client (``client_id``) or many (``client_ids``): all or none. Each item's
        ``url`` is the client's personal link, shown only in this answer. A client who already
        holds an open invitation to the survey makes it a 409 naming that invitation, unless
        ``allow_duplicate`` is true."""
        if "client_id" in fields:
            client_ids, field_name = [str(fields["client_id"])], "client_id"
        else:
            client_ids, field_name = [str(value) for value in fields["client_ids"]], "client_ids"
        with ctx().database.transaction() as session:
            issued = service.invite_clients(
                session, str(survey_id), client_ids, field_name=field_name,
                language=fields.get("language"), expires_in_days=fields.get("expires_in_days"),
                by=actor(), now=ctx().clock(), link_base=link_base(), delivery=delivery(),
                allow_duplicate=fields.get("allow_duplicate", False), rules=rules())
            items = invitation_views(session, [item.invitation for item in issued],
                                     urls={item.invitation.id: item.url for item in issued})
        return {"items": items}, 201


_INVITATION_SCHEMA = InvitationSchema()


@blp.route("/invitations/<uuid:invitation_id>/revoke")
class Revoke(MethodView):
    @blp.response(200, InvitationSchema)
    def post(self, invitation_id):
        """Withdraw an open invitation: all its links stop working (optional ``If-Match``)."""
        expected = expected_version()
        with ctx().database.transaction() as session:
            invitation = service.revoke_invitation(session, str(invitation_id),
                                                   expected_version=expected, now=ctx().clock())
            view = invitation_views(session, [invitation])[0]
        return with_etag(current_app.make_response(_INVITATION_SCHEMA.dump(view)),
                         invitation.version)


@blp.route("/invitations/<uuid:invitation_id>/resend")
class Resend(MethodView):
    @idempotent_links
    @blp.response(200, InvitationSchema)
    def post(self, invitation_id):
        """Issue a new link for an open invitation (shown once, as ``url``); the earlier links
        keep working. Emailed again when the invitation is delivered by email."""
        expected = expected_version()
        with ctx().database.transaction() as session:
            issued = service.resend_invitation(session, str(invitation_id),
                                               expected_version=expected, now=ctx().clock())
            view = invitation_views(session, [issued.invitation],
                                    urls={issued.invitation.id: issued.url})[0]
        return with_etag(current_app.make_response(_INVITATION_SCHEMA.dump(view)),
                         issued.invitation.version)
