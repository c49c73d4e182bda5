"""Requirements and change requests: ``/api/v1/clients/{id}/requirements``,
``/api/v1/requirements``, ``/api/v1/change-requests`` and ``/api/v1/reports/requirements``."""
from __future__ import annotations

import functools

from flask import current_app, request
from flask.views import MethodView

from services.registry import requirements as service
from services.registry.api.schemas import (ChangeRequestInSchema, ChangeRequestListArgs,
                                           ChangeRequestSchema, ClientRequirementListArgs,
                                           DecisionInSchema, RequirementActionSchema,
                                           RequirementChangeRequestListArgs, RequirementInSchema,
                                           RequirementListArgs, RequirementPatchSchema,
                                           RequirementReportArgs, RequirementReportSchema,
                                           RequirementSchema, WithdrawInSchema)
from services.registry.service import get_client
from shared.web.blueprint import Blueprint
from shared.web.idempotency import idempotent
from shared.web.pagination import page_schema
from shared.web.security import current_principal
from shared.web.versioning import expected_version, with_etag

blp = Blueprint("requirements", __name__, url_prefix="/api/v1",
                description="Client requirements, their workflow and baseline, change requests "
                            "(four eyes) and the requirements report.")


def ctx():
    return current_app.extensions["clientloop"]


def rules():
    return ctx().extras["rules"]


def by() -> str:
    return current_principal().name


def on():
    return service.today(ctx().clock(), rules())


_REQUIREMENT_SCHEMA = RequirementSchema()


def _respond_requirement(session, requirement, status: int = 200):
    body = _REQUIREMENT_SCHEMA.dump(service.requirement_view(
        requirement, on(), entries=service.history(session, requirement.id)))
    response = current_app.make_response((body, status))
    if status == 201:
        response.headers["Location"] = f"{request.script_root}/api/v1/requirements/{requirement.id}"
    return with_etag(response, requirement.version)


_CHANGE_REQUEST_SCHEMA = ChangeRequestSchema()


def _respond_change_request(record, status: int = 200):
    body = _CHANGE_REQUEST_SCHEMA.dump(service.change_request_view(record, rules()))
    response = current_app.make_response((body, status))
    if status == 201:
        response.headers["Location"] = f"{request.script_root}/api/v1/change-requests/{record.id}"
    return with_etag(response, record.version)


def four_eyes(view):
    """403 for the change request's submitter, before the body is looked at."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        with ctx().database.transaction() as session:
            service.check_four_eyes(session, str(kwargs["change_request_id"]), by())
        return view(*args, **kwargs)
    return wrapper


@blp.route("/clients/<uuid:client_id>/requirements")
class ClientRequirements(MethodView):
    @blp.arguments(ClientRequirementListArgs, location="query")
    @blp.response(200, page_schema(RequirementSchema))
    def get(self, args, client_id):
        """The client's requirements, newest first (filters: status, priority, overdue)."""
        with ctx().database.transaction() as session:
            get_client(session, str(client_id))
            page = service.requirements_page(session, {**args, "client_id": client_id},
                                             args["page"], args["per_page"], on=on())
            page["items"] = [service.requirement_view(row, on()) for row in page["items"]]
        return page

    @idempotent
    @blp.arguments(RequirementInSchema)
    @blp.response(201, RequirementSchema)
    def post(self, fields, client_id):
        """Record a requirement of the client (status `proposed`); publishes
        `requirement.created`. Accepts `Idempotency-Key`."""
        with ctx().database.transaction() as session:
            requirement = service.create_requirement(session, str(client_id), fields,
                                                     now=ctx().clock(), by=by())
            return _respond_requirement(session, requirement, 201)


@blp.route("/requirements")
class Requirements(MethodView):
    @blp.arguments(RequirementListArgs, location="query")
    @blp.response(200, page_schema(RequirementSchema))
    def get(self, args):
        """Requirements of every client, newest first; filters: client, status, priority,
        `overdue` (due date passed, not delivered, accepted, rejected or withdrawn)."""
        with ctx().database.transaction() as session:
            page = service.requirements_page(session, args, args["page"], args["per_page"],
                                             on=on())
            page["items"] = [service.requirement_view(row, on()) for row in page["items"]]
        return page


@blp.route("/requirements/<uuid:requirement_id>")
class RequirementItem(MethodView):
    @blp.response(200, RequirementSchema)
    def get(self, requirement_id):
        """One requirement with its history."""
        with ctx().database.transaction() as session:
            requirement = service.get_requirement(session, str(requirement_id))
            return _respond_requirement(session, requirement)

    @blp.arguments(RequirementPatchSchema)
    @blp.response(200, RequirementSchema)
    def patch(self, changes, requirement_id):
        """Edit the requirement until it is `approved`. From then on `title`,
        `description`, `priority`, `due_on` and `acceptance_criteria` are baselined: changing
        them is a 409 naming the change-request path. Optional `If-Match`."""
        expected = expected_version()
        with ctx().database.transaction() as session:
            requirement = service.update_requirement(session, str(requirement_id), changes,
                                                     expected_version=expected,
                                                     now=ctx().clock(), by=by())
            return _respond_requirement(session, requirement)


@blp.route("/requirements/<uuid:requirement_id>/actions")
class RequirementActions(MethodView):
    @idempotent
    @blp.arguments(RequirementActionSchema)
    @blp.response(200, RequirementSchema)
    def post(self, body, requirement_id):
        """A workflow action (`analyse`, `approve`, `start`, `deliver`, `accept`, `refuse`,
        `reject`, `withdraw`); not allowed in the current status: 409 with `allowed_actions`.
        Publishes `requirement.status_changed`. Optional `If-Match`."""
        expected = expected_version()
        fields = {name: value for name, value in body.items() if name != "action"}
        with ctx().database.transaction() as session:
            requirement = service.act(session, str(requirement_id), body["action"], fields,
                                      expected_version=expected, now=ctx().clock(), by=by())
            return _respond_requirement(session, requirement)


@blp.route("/requirements/<uuid:requirement_id>/change-requests")
class RequirementChangeRequests(MethodView):
    @blp.arguments(RequirementChangeRequestListArgs, location="query")
    @blp.response(200, page_schema(ChangeRequestSchema))
    def get(self, args, requirement_id):
        """The requirement's change requests, newest first."""
        with ctx().database.transaction() as session:
            service.get_requirement(session, str(requirement_id))
            page = service.change_requests_page(
                session, {**args, "requirement_id": requirement_id}, args["page"], args["per_page"])
            page["items"] = [service.change_request_view(row, rules()) for row in page["items"]]
        return page

    @idempotent
    @blp.arguments(ChangeRequestInSchema)
    @blp.response(201, ChangeRequestSchema)
    def post(self, fields, requirement_id):
        """Propose new values for baselined fields, with their impact (`schedule_days`,
        `cost`, `risk`); publishes `change_request.submitted`. Accepts `Idempotency-Key`."""
        with ctx().database.transaction() as session:
            record = service.submit_change_request(session, str(requirement_id), fields,
                                                   now=ctx().clock(), by=by(), rules=rules())
            return _respond_change_request(record, 201)


@blp.route("/change-requests")
class ChangeRequests(MethodView):
    @blp.arguments(ChangeRequestListArgs, location="query")
    @blp.response(200, page_schema(ChangeRequestSchema))
    def get(self, args):
        """Change requests of every requirement, newest first; filters: status, client."""
        with ctx().database.transaction() as session:
            page = service.change_requests_page(session, args, args["page"], args["per_page"])
            page["items"] = [service.change_request_view(row, rules()) for row in page["items"]]
        return page


@blp.route("/change-requests/<uuid:change_request_id>")
class ChangeRequestItem(MethodView):
    @blp.response(200, ChangeRequestSchema)
    def get(self, change_request_id):
        """One change request."""
        with ctx().database.transaction() as session:
            record = service.get_change_request(session, str(change_request_id))
            return _respond_change_request(record)


@blp.route("/change-requests/<uuid:change_request_id>/decision")
class ChangeRequestDecision(MethodView):
    @four_eyes
    @blp.arguments(DecisionInSchema)
    @blp.response(200, ChangeRequestSchema)
    def post(self, body, change_request_id):
        """Approve or reject a submitted change request. Four eyes: its submitter gets a 403
        (checked before the body). Approving applies `proposed` to the requirement in the same
        transaction (version + 1, a history entry naming the change request); a proposed field
        that changed since submission is a 409. Publishes `change_request.decided` (and
        `requirement.changed` on approval). Optional `If-Match` (the change request's version)."""
        expected = expected_version()
        with ctx().database.transaction() as session:
            record = service.decide(session, str(change_request_id), body["decision"],
                                    body.get("note"), expected_version=expected,
                                    now=ctx().clock(), by=by(), rules=rules())
            return _respond_change_request(record)


@blp.route("/change-requests/<uuid:change_request_id>/withdraw")
class ChangeRequestWithdraw(MethodView):
    @blp.arguments(WithdrawInSchema)
    @blp.response(200, ChangeRequestSchema)
    def post(self, body, change_request_id):
        """Withdraw a submitted change request (optional `note`); publishes
        `change_request.decided` with status `withdrawn`."""
        expected = expected_version()
        with ctx().database.transaction() as session:
            record = service.withdraw_change_request(
                session, str(change_request_id), expected_version=expected, now=ctx().clock(),
                by=by(), rules=rules(), note=body.get("note"))
            return _respond_change_request(record)


@blp.route("/reports/requirements")
class RequirementsReport(MethodView):
    @blp.arguments(RequirementReportArgs, location="query")
    @blp.response(200, RequirementReportSchema)
    def get(self, args):
        """Requirements by status and priority, overdue, change requests submitted /
        approved / rejected, approved schedule impact (days), median days from `proposed` to
        `accepted`, and the percentage of deliveries refused at least once."""
        client_id = str(args["client_id"]) if args.get("client_id") else None
        with ctx().database.transaction() as session:
            return service.report(session, on=on(), client_id=client_id)
