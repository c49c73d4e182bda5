"""``/api/v1/complaints``: open, list, read, correct, act on and annotate complaints."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from flask import current_app, request
from flask.views import MethodView
from sqlalchemy import not_, select

from services.complaints import service
from services.complaints.adapters import queue, repository
from services.complaints.adapters.orm import ComplaintRecord
from services.complaints.api.schemas import (ActionInSchema, ComplaintInSchema,
                                             ComplaintListArgs, ComplaintPatchSchema,
                                             ComplaintSchema, NoteInSchema, TimelineEntrySchema)
from services.complaints.domain.complaint import Complaint
from shared.web.blueprint import Blueprint
from shared.web.idempotency import idempotent
from shared.web.pagination import page_schema, paginate
from shared.web.security import current_principal
from shared.web.versioning import expected_version, with_etag

blp = Blueprint("complaints", __name__, url_prefix="/api/v1/complaints",
                description="Complaints: intake, the ISO 10002 workflow with SLAs, notes.")

_COMPLAINT_FIELDS = (
    "ref", "client_tier", "channel", "category", "severity", "title", "description",
    "remedy_sought", "status", "assignee", "opened_at", "respond_by", "resolve_by",
    "acknowledged_at", "resolved_at", "closed_at", "resolution_code", "root_cause",
    "resolution_summary", "client_accepted", "within_sla", "time_to_acknowledge_s",
    "time_to_resolve_s", "waiting_s", "waiting_since", "reopen_count", "version", "updated_at",
)


def ctx():
    return current_app.extensions["clientloop"]


def rules():
    return ctx().extras["rules"]


def by() -> str:
    return current_principal().name


def complaint_view(row, now, names: Mapping[str, str | None],
                   timeline: Iterable[Any] | None = None) -> dict[str, Any]:
    """The documented complaint shape (and a few more fields) from a ``complaint`` row;
    ``names``: the client names of :func:`queue.client_names`."""
    return _view(repository.complaint_from_row(row), now,
                 None if row.client_erased else names.get(row.client_id),
                 bool(row.client_erased), row.created_by, timeline, rules())


def _view(complaint: Complaint, now, client_name: str | None, client_erased: bool,
          created_by: str, timeline: Iterable[Any] | None, rules) -> dict[str, Any]:
    view = {name: getattr(complaint, name) for name in _COMPLAINT_FIELDS}
    view.update(id=str(complaint.id), client_id=str(complaint.client_id),
                client_name=client_name, overdue=complaint.overdue(now),
                allowed_actions=[str(a) for a in complaint.allowed_actions(now, rules)],
                client_erased=client_erased, created_by=created_by)
    if timeline is not None:
        view["timeline"] = list(timeline)
    return view


_COMPLAINT_SCHEMA = ComplaintSchema()


def _answer(view: dict[str, Any], version: int, status: int = 200):
    response = current_app.make_response((dump(view), status))
    if status == 201:
        response.headers["Location"] = f"{request.script_root}/api/v1/complaints/{view['id']}"
    return with_etag(response, version)


def respond_with(session, complaint_id, status: int = 200):
    """The complaint as stored now, with its timeline, ETag (and Location on 201)."""
    row = repository.load_row(session, complaint_id)
    view = complaint_view(row, ctx().clock(), queue.client_names(session, [row.client_id]),
                          repository.load_timeline(session, complaint_id))
    return _answer(view, row.version, status)


def dump(view: dict[str, Any]) -> dict[str, Any]:
    """A complaint's view as the API answers it (``ComplaintSchema``)."""
    return _COMPLAINT_SCHEMA.dump(view)


def opened_view(changed: service.Changed, created_by: str, now, rules) -> dict[str, Any]:
    """The complaint just opened, as :func:`respond_with` would read it back, from what the
    opening wrote (the rows hold exactly these values; nobody else can have changed them
    before the answer leaves, and the directory entry was share-locked while it was read)."""
    complaint = changed.complaint
    timeline = repository.timeline_view(complaint.id, changed.entries, changed.entry_ids)
    return _view(complaint, now, changed.client_name, False, created_by, timeline, rules)


def respond_opened(changed: service.Changed, created_by: str):
    view = opened_view(changed, created_by, ctx().clock(), rules())
    return _answer(view, changed.complaint.version, 201)


@blp.route("")
class Complaints(MethodView):
    @blp.arguments(ComplaintListArgs, location="query")
    @blp.response(200, page_schema(ComplaintSchema))
    def get(self, args):
        """List complaints, newest first; filter by status, severity, category, channel,
        assignee, client, ``overdue``, ``ref`` (exact) and ``q`` (text search over ref,
        title, description and client name). Every filter given applies."""
        now = ctx().clock()
        statement = select(ComplaintRecord)
        for name in ("status", "severity", "category", "channel", "assignee", "ref"):
            if name in args:
                statement = statement.where(getattr(ComplaintRecord, name) == args[name])
        if "client_id" in args:
            statement = statement.where(ComplaintRecord.client_id == str(args["client_id"]))
        if "overdue" in args:
            clause = service.overdue_clause(now)
            statement = statement.where(clause if args["overdue"] else not_(clause))
        if "q" in args:
            statement = statement.where(queue.text_search(args["q"], description=True))
        statement = statement.order_by(ComplaintRecord.opened_at.desc(),
                                       ComplaintRecord.ref.desc())
        with ctx().database.transaction() as session:
            page = paginate(session, statement, args["page"], args["per_page"])
            names = queue.client_names(session, [record.client_id for record in page["items"]])
            page["items"] = [complaint_view(record, now, names) for record in page["items"]]
        return page

    @idempotent
    @blp.arguments(ComplaintInSchema)
    @blp.response(201, ComplaintSchema)
    def post(self, fields):
        """Open a complaint (status ``new``, SLA deadlines set); publishes
        ``complaint.opened``. Accepts ``Idempotency-Key``."""
        created_by = by()
        with ctx().database.transaction() as session:
            changed = service.open_new_complaint(session, fields, by=created_by,
                                                 now=ctx().clock(), rules=rules())
        return respond_opened(changed, created_by)


@blp.route("/<uuid:complaint_id>")
class ComplaintItem(MethodView):
    @blp.response(200, ComplaintSchema)
    def get(self, complaint_id):
        """Read one complaint with its timeline."""
        with ctx().database.transaction() as session:
            service.get_complaint(session, complaint_id)
            return respond_with(session, complaint_id)

    @blp.arguments(ComplaintPatchSchema)
    @blp.response(200, ComplaintSchema)
    def patch(self, changes, complaint_id):
        """Triage corrections (title, description, category, severity) until resolved;
        optional ``If-Match``. A severity change publishes ``complaint.reclassified``."""
        expected = expected_version()
        with ctx().database.transaction() as session:
            service.correct(session, complaint_id, changes, by=by(), now=ctx().clock(),
                            rules=rules(), expected_version=expected)
            return respond_with(session, complaint_id)


@blp.route("/<uuid:complaint_id>/actions")
class ComplaintActions(MethodView):
    @idempotent
    @blp.arguments(ActionInSchema)
    @blp.response(200, ComplaintSchema)
    def post(self, body, complaint_id):
        """Apply a workflow action (``{"action": …, …its fields}``); optional ``If-Match``.

        Not allowed in the current status: 409 with ``allowed_actions``. Unknown or missing
        action, or invalid fields: 422. Stale ``If-Match``: 412.
        """
        expected = expected_version()
        fields = {name: value for name, value in body.items() if name != "action"}
        with ctx().database.transaction() as session:
            service.act(session, complaint_id, body["action"], fields, by=by(),
                        now=ctx().clock(), rules=rules(), expected_version=expected)
            return respond_with(session, complaint_id)


_TIMELINE_ENTRY_SCHEMA = TimelineEntrySchema()


@blp.route("/<uuid:complaint_id>/notes")
class ComplaintNotes(MethodView):
    @idempotent
    @blp.arguments(NoteInSchema)
    @blp.response(201, TimelineEntrySchema)
    def post(self, body, complaint_id):
        """Add an internal note (any status but ``closed``); optional ``If-Match``.
        Answers the timeline entry; the ETag is the complaint's new version."""
        expected = expected_version()
        with ctx().database.transaction() as session:
            changed = service.add_note(session, complaint_id, body["text"], by=by(),
                                       now=ctx().clock(), rules=rules(),
                                       expected_version=expected)
            entry = repository.load_timeline(session, complaint_id)[-1]
        response = current_app.make_response((_TIMELINE_ENTRY_SCHEMA.dump(entry), 201))
        return with_etag(response, changed.complaint.version)
