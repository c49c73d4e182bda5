"""Client care: ``/api/v1/clients/{id}/interactions``, ``/communication-plan`` and
``/api/v1/followups/due``."""
from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from services.registry import care
from services.registry.api.schemas import (FollowupArgs, FollowupPageSchema, InteractionInSchema,
                                           InteractionListArgs, InteractionSchema, PlanInSchema,
                                           PlanSchema)
from shared.web.blueprint import Blueprint
from shared.web.idempotency import idempotent
from shared.web.pagination import page_schema
from shared.web.security import current_principal
from shared.web.versioning import expected_version, with_etag

blp = Blueprint("care", __name__, url_prefix="/api/v1",
                description="Communication plans, the interaction log and follow-ups due.")


def ctx():
    return current_app.extensions["clientloop"]


def rules():
    return ctx().extras["rules"]


def _interaction_view(record) -> dict:
    return {name: getattr(record, name) for name in (
        "id", "client_id", "channel", "summary", "occurred_at", "staff", "created_at",
        "created_by")}


@blp.route("/clients/<uuid:client_id>/interactions")
class Interactions(MethodView):
    @blp.arguments(InteractionListArgs, location="query")
    @blp.response(200, page_schema(InteractionSchema))
    def get(self, args, client_id):
        """The client's logged interactions, most recent first."""
        with ctx().database.transaction() as session:
            page = care.interactions_page(session, str(client_id), args["page"], args["per_page"])
            page["items"] = [_interaction_view(record) for record in page["items"]]
        return page

    @idempotent
    @blp.arguments(InteractionInSchema)
    @blp.response(201, InteractionSchema)
    def post(self, fields, client_id):
        """Log a contact with the client (``staff`` defaults to the caller, ``occurred_at`` to
        now); the follow-up due date moves accordingly."""
        with ctx().database.transaction() as session:
            record = care.log_interaction(session, str(client_id), fields, now=ctx().clock(),
                                          by=current_principal().name, rules=rules())
            return _interaction_view(record)


_PLAN_SCHEMA = PlanSchema()


@blp.route("/clients/<uuid:client_id>/communication-plan")
class Plan(MethodView):
    @blp.response(200, PlanSchema)
    def get(self, client_id):
        """The client's communication plan (404 while it has none)."""
        with ctx().database.transaction() as session:
            plan = care.get_plan(session, str(client_id))
            body = _PLAN_SCHEMA.dump(care.plan_view(session, plan))
        return with_etag(current_app.make_response((body, 200)), body["version"])

    @blp.arguments(PlanInSchema)
    @blp.response(200, PlanSchema)
    @blp.alt_response(201, schema=PlanSchema, description="The plan was created.")
    def put(self, fields, client_id):
        """Create (201) or replace (200) the plan; ``starts_on`` defaults to today. Optional
        ``If-Match`` with the plan's version; a stale one is a 412."""
        expected = expected_version()
        with ctx().database.transaction() as session:
            plan, created = care.put_plan(session, str(client_id), fields,
                                          expected_version=expected, now=ctx().clock(),
                                          by=current_principal().name, rules=rules())
            body = _PLAN_SCHEMA.dump(care.plan_view(session, plan))
        return with_etag(current_app.make_response((body, 201 if created else 200)), body["version"])


@blp.route("/followups/due")
class FollowupsDue(MethodView):
    @blp.arguments(FollowupArgs, location="query")
    @blp.response(200, FollowupPageSchema)
    def get(self, args):
        """Active clients due for follow-up on ``on`` (a date in CLIENTLOOP_TIMEZONE; default
        today): their last interaction (or plan start) plus the plan's frequency is on or
        before that date. Longest overdue first."""
        on = args.get("on") or care.today(ctx().clock(), rules())
        with ctx().database.transaction() as session:
            page = care.followups_due(session, on, args["page"], args["per_page"])
        return {"on": on, **page}
