"""``POST /api/v1/public/responses``: submit a response as JSON, for other apps (no token).

The link token is the credential: ``{"token", "answers": {"<key>": value, …}}``. An unknown
token is a 404; a used, revoked, expired or closed link a 410 whose ``reason`` says which —
neither says anything about the client. Rate limited per address with the form pages.
"""
from __future__ import annotations

from flask.views import MethodView

from services.survey import service
from services.survey.api.common import ctx, rules
from services.survey.api.schemas import PublicResponseInSchema, PublicResponseSchema
from shared.clock import as_utc
from shared.web.blueprint import Blueprint
from shared.web.security import public

blp = Blueprint("public_responses", __name__, url_prefix="/api/v1/public",
                description="Public survey submission (the link token is the credential).")


@blp.route("/responses")
class PublicResponses(MethodView):
    @public
    @blp.arguments(PublicResponseInSchema)
    @blp.response(201, PublicResponseSchema)
    def post(self, fields):
        """Answer the invitation behind ``token`` (once); publishes
        ``survey.response.submitted``."""
        with ctx().database.transaction() as session:
            response = service.submit_response(session, fields["token"], fields["answers"],
                                               now=ctx().clock(), rules=rules())
        return {"id": response.id, "survey_id": response.survey_id, "score": response.score,
                "submitted_at": as_utc(response.submitted_at)}, 201
