"""``/api/v1/clients``: register, list, read, correct, archive and erase clients."""
from __future__ import annotations

from decimal import Decimal

from flask import current_app
from flask.views import MethodView

from services.registry import queries, service
from services.registry.adapters.orm import ClientRecord
from services.registry.domain.money import money_output
from services.registry.api.schemas import (ClientInSchema, ClientListArgs, ClientPatchSchema,
                                           ClientSchema)
from shared.web.blueprint import Blueprint
from shared.web.idempotency import idempotent
from shared.web.pagination import page_schema, paginate
from shared.web.security import admin_only
from shared.web.versioning import expected_version, with_etag

blp = Blueprint("clients", __name__, url_prefix="/api/v1/clients",
                description="Clients: who they are, their stakeholder position and their value.")


def ctx():
    return current_app.extensions["clientloop"]


def rules():
    return ctx().extras["rules"]


def client_view(client: ClientRecord) -> dict:
    view = {column: getattr(client, column) for column in (
        "id", "name", "kind", "category", "contacts", "tags", "owner", "preferred_language",
        "power", "interest", "engagement_current", "engagement_desired", "tier", "health_band",
        "status", "version", "created_at", "updated_at")}
    view["engagement_strategy"] = service.strategy_of(client)
    view["engagement_gap"] = service.gap_of(client)
    view["annual_value"] = service.annual_value(client)
    view["satisfaction"] = None if client.satisfaction is None else float(
        Decimal(client.satisfaction).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP"))
    view["health_score"] = float(client.health_score)
    view["value_at_risk"] = money_output(Decimal(client.value_at_risk or 0),
                                         rules().clients.currency)
    return view


_CLIENT_SCHEMA = ClientSchema()


def respond(client: ClientRecord, status: int = 200):
    body = _CLIENT_SCHEMA.dump(client_view(client))
    response = current_app.make_response((body, status))
    if status == 201:
        response.headers["Location"] = f"{_prefix()}/api/v1/clients/{client.id}"
    return with_etag(response, client.version)


def _prefix() -> str:
    from flask import request
    return request.script_root or ""


@blp.route("")
class Clients(MethodView):
    @blp.arguments(ClientListArgs, location="query")
    @blp.response(200, page_schema(ClientSchema))
    def get(self, args):
        """List clients (active ones unless ``status`` says otherwise)."""
        statement = queries.client_list(args, args["sort"])
        with ctx().database.transaction() as session:
            page = paginate(session, statement, args["page"], args["per_page"])
            page["items"] = [client_view(client) for client in page["items"]]
        return page

    @idempotent
    @blp.arguments(ClientInSchema)
    @blp.response(201, ClientSchema)
    def post(self, fields):
        """Register a client; publishes ``client.registered``."""
        with ctx().database.transaction() as session:
            client = service.register_client(session, fields, now=ctx().clock(), rules=rules())
        return respond(client, 201)


@blp.route("/<uuid:client_id>")
class Client(MethodView):
    @blp.response(200, ClientSchema)
    def get(self, client_id):
        """Read one client."""
        with ctx().database.transaction() as session:
            client = service.get_client(session, str(client_id))
        return respond(client)

    @blp.arguments(ClientPatchSchema)
    @blp.response(200, ClientSchema)
    def patch(self, changes, client_id):
        """Correct a client's fields (optional ``If-Match``); publishes ``client.updated``."""
        expected = expected_version()
        with ctx().database.transaction() as session:
            client = service.update_client(session, str(client_id), changes, expected_version=expected,
                                           now=ctx().clock(), rules=rules())
        return respond(client)

    @blp.response(200, ClientSchema)
    def delete(self, client_id):
        """Archive a client (kept, hidden from the default list); publishes ``client.archived``."""
        expected = expected_version()
        with ctx().database.transaction() as session:
            client = service.archive_client(session, str(client_id), expected_version=expected,
                                            now=ctx().clock())
        return respond(client)


@blp.route("/<uuid:client_id>/erase")
class Erase(MethodView):
    @admin_only
    @blp.response(200, ClientSchema)
    def post(self, client_id):
        """Erase a client's personal data (admin); publishes ``client.erased``."""
        expected = expected_version()
        with ctx().database.transaction() as session:
            client = service.erase_client(session, str(client_id), expected_version=expected,
                                          now=ctx().clock())
        return respond(client)
