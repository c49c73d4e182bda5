"""``/api/v1/improvements``: improvement actions (corrective actions) with their measured
effect; ``/api/v1/reports/root-causes``: the root-cause Pareto."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app, request
from flask.views import MethodView

from services.complaints import improvements as use_cases
from services.complaints.adapters import improvements as repository
from services.complaints.adapters.reports import day_bounds
from services.complaints.api.improvement_schemas import (
    ImprovementActionInSchema, ImprovementInSchema, ImprovementListArgs, ImprovementPatchSchema,
    ImprovementSchema, RootCausesArgs, RootCausesReportSchema)
from services.complaints.domain.improvement import Improvement
from shared.web.blueprint import Blueprint
from shared.web.idempotency import idempotent
from shared.web.pagination import page_schema, paginate
from shared.web.security import current_principal
from shared.web.versioning import expected_version, with_etag

blp = Blueprint("improvements", __name__, url_prefix="/api/v1/improvements",
                description="Improvement actions addressing a root cause of complaints, with "
                            "their measured effect.")
reports_blp = Blueprint("root_cause_reports", __name__, url_prefix="/api/v1/reports",
                        description="The root-cause Pareto of complaints.")

_FIELDS = ("title", "root_cause", "description", "category", "owner", "due_on", "status",
           "started_at", "done_at", "created_at", "created_by", "updated_at", "version")
DEFAULT_DAYS = 30


def ctx():
    return current_app.extensions["clientloop"]


def improvement_view(improvement: Improvement, effect, timeline=None) -> dict[str, Any]:
    view = {name: getattr(improvement, name) for name in _FIELDS}
    view.update(id=str(improvement.id), effect=effect,
                allowed_actions=[str(a) for a in improvement.allowed_actions()])
    if timeline is not None:
        view["timeline"] = timeline
    return view


_IMPROVEMENT_SCHEMA = ImprovementSchema()


def respond_with(session, improvement_id, status: int = 200):
    improvement = use_cases.get_improvement(session, improvement_id)
    effect = repository.effects(session, [improvement], ctx().clock())[improvement.id]
    view = improvement_view(improvement, effect,
                            repository.load_timeline(session, improvement_id))
    response = current_app.make_response((_IMPROVEMENT_SCHEMA.dump(view), status))
    if status == 201:
        response.headers["Location"] = (f"{request.script_root}/api/v1/improvements/"
                                        f"{improvement.id}")
    return with_etag(response, improvement.version)


@blp.route("")
class Improvements(MethodView):
    @blp.arguments(ImprovementListArgs, location="query")
    @blp.response(200, page_schema(ImprovementSchema))
    def get(self, args):
        """List improvement actions, newest first, each with its effect; filter by
        ``status``."""
        with ctx().database.transaction() as session:
            page = paginate(session, repository.list_statement(args.get("status")),
                            args["page"], args["per_page"])
            rows = [repository.improvement_from_row(row) for row in page["items"]]
            effects = repository.effects(session, rows, ctx().clock())
        page["items"] = [improvement_view(row, effects[row.id]) for row in rows]
        return page

    @idempotent
    @blp.arguments(ImprovementInSchema)
    @blp.response(201, ImprovementSchema)
    def post(self, fields):
        """Plan an improvement action (status ``planned``); publishes
        ``improvement.created``. Accepts ``Idempotency-Key``."""
        with ctx().database.transaction() as session:
            improvement = use_cases.create_improvement(
                session, fields, by=current_principal().name, now=ctx().clock())
            return respond_with(session, improvement.id, 201)


@blp.route("/<uuid:improvement_id>")
class ImprovementItem(MethodView):
    @blp.response(200, ImprovementSchema)
    def get(self, improvement_id):
        """Read one improvement action with its effect and timeline."""
        with ctx().database.transaction() as session:
            return respond_with(session, improvement_id)

    @blp.arguments(ImprovementPatchSchema)
    @blp.response(200, ImprovementSchema)
    def patch(self, changes, improvement_id):
        """Correct title, root cause, description, category, owner or due date while
        ``planned`` or ``in_progress`` (409 otherwise); optional ``If-Match``."""
        expected = expected_version()
        with ctx().database.transaction() as session:
            use_cases.correct_improvement(session, improvement_id, changes,
                                          by=current_principal().name, now=ctx().clock(),
                                          expected_version=expected)
            return respond_with(session, improvement_id)


@blp.route("/<uuid:improvement_id>/actions")
class ImprovementActions(MethodView):
    @idempotent
    @blp.arguments(ImprovementActionInSchema)
    @blp.response(200, ImprovementSchema)
    def post(self, body, improvement_id):
        """Apply a workflow action (``{"action": …, "note"?}``); optional ``If-Match``.
        Not allowed in the current status: 409 with ``allowed_actions``; publishes
        ``improvement.status_changed``."""
        expected = expected_version()
        with ctx().database.transaction() as session:
            use_cases.act_on_improvement(session, improvement_id, body["action"],
                                         body.get("note"), by=current_principal().name,
                                         now=ctx().clock(), expected_version=expected)
            return respond_with(session, improvement_id)


@reports_blp.route("/root-causes")
class RootCausesReport(MethodView):
    @reports_blp.arguments(RootCausesArgs, location="query")
    @reports_blp.response(200, RootCausesReportSchema)
    def get(self, args):
        """The root-cause Pareto: complaints opened in the period that have a root cause,
        grouped by normalised root cause, biggest first, with shares, breaches, reopenings
        and the improvement actions addressing each (default: the 30 days up to today)."""
        zone = ctx().extras["timezone"]
        now = ctx().clock()
        last_day = args.get("to") or now.astimezone(zone).date()
        first_day = args.get("from_") or last_day - timedelta(days=DEFAULT_DAYS - 1)
        if first_day > last_day:
            last_day = first_day
        start, end = day_bounds(first_day, last_day, zone)
        with ctx().database.transaction() as session:
            report = repository.root_causes_report(session, first_day=first_day,
                                                   last_day=last_day, start=start, end=end,
                                                   now=now)
        report["from_"] = report.pop("from")
        report["timezone"] = ctx().settings.timezone
        return report
