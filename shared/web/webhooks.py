"""``/api/v1/webhooks``: the HTTP endpoints a service delivers its own events to (admin only).

Every service registers this blueprint after its own (``shared.web.app.create_service_app``).
An endpoint is registered with a URL and the event types it wants (``*``, an event type this
service publishes, or ``prefix.*``); the answer to the registration is the only one that shows
its signing secret. Deliveries are made by the service's dispatcher from committed events
(``shared.webhooks``); here they are listed, retried, and a test ping is queued on request.
Nothing is sent on registering an endpoint.
"""
from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

import marshmallow as ma
from flask import current_app, request
from flask.views import MethodView
from marshmallow import fields, validate

from shared.errors import NotFound, ValidationFailed
from shared.events import EVENT_TYPES
from shared.web.blueprint import Blueprint
from shared.web.fields import Timestamp, text_field
from shared.web.idempotency import idempotent_with
from shared.web.pagination import PageArgs, page_of, page_schema
from shared.web.security import admin_only
from shared.web.validation import BodySchema

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhooks",
                description="Webhooks (admin): HTTP endpoints this service delivers its events to, "
                            "signed as Standard Webhooks, and the log of those deliveries.")

DELIVERY_STATUSES = ("pending", "delivered", "failed")
MAX_URL_LENGTH = 2000
MAX_PATTERNS = 50
SECRET_WITHHELD = "Secret-Withheld"
SECRET_WITHHELD_REASON = "secret is shown only in the first answer"


def ctx():
    return current_app.extensions["clientloop"]


def _store():
    from shared.webhooks import store
    return store


# -- the rules of a body ------------------------------------------------------------------------
def service_event_types(service: str) -> list[str]:
    """The event types ``service`` publishes, in catalogue order."""
    return [name for name, event_type in EVENT_TYPES.items() if event_type.publisher == service]


def pattern_errors(patterns: Sequence[str], service: str) -> list[str]:
    """Why some of ``patterns`` would never match an event of ``service`` (``[]`` if none)."""
    known = service_event_types(service)
    messages = []
    for pattern in patterns:
        if pattern == "*" or pattern in known:
            continue
        if pattern.endswith(".*") and len(pattern) > 2 and "*" not in pattern[:-2] \
                and any(name.startswith(pattern[:-1]) for name in known):
            continue
        messages.append(f"'{pattern}' matches no event type of the {service} service; use '*', "
                        f"one of {', '.join(known)}, or a prefix such as "
                        f"'{known[0].split('.')[0]}.*'.")
    return messages


def url_errors(url: str) -> list[str]:
    """The policy's refusal of ``url`` (scheme, host, allowed hosts, resolved addresses)."""
    from shared.webhooks.policy import UrlRefused, WebhookPolicy
    try:
        WebhookPolicy.from_settings(ctx().settings).check(url)
    except UrlRefused as refused:
        return [str(refused)]
    return []


def rule_errors(valid: Mapping[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if valid.get("url"):
        if messages := url_errors(valid["url"]):
            errors["url"] = messages
    if valid.get("event_types"):
        if messages := pattern_errors(valid["event_types"], ctx().service):
            errors["event_types"] = messages
    return errors


def check_rules(valid: Mapping[str, Any]) -> None:
    if errors := rule_errors(valid):
        raise ValidationFailed(errors)


# -- schemas ------------------------------------------------------------------------------------
def _url_field(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=MAX_URL_LENGTH), metadata={
        "description": "Where deliveries are POSTed: an https URL of a public address (the "
                       "installation may allow http and private addresses, and may list the "
                       "only hosts allowed).", "example": "https://hooks.example.com/clientloop"},
        **kwargs)


def _event_types_field(**kwargs) -> fields.List:
    return fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                       validate=validate.Length(min=1, max=MAX_PATTERNS), metadata={
        "description": "Which events to deliver: '*' (all of this service's), an event type "
                       "('complaint.opened') or a prefix ending in '.*' ('complaint.*').",
        "example": ["complaint.*"]}, **kwargs)


class WebhookRulesSchema(BodySchema):
    def rule_errors(self, valid, raw):
        return rule_errors(valid)


class WebhookInSchema(WebhookRulesSchema):
    url = _url_field(required=True)
    event_types = _event_types_field(required=True)
    description = text_field(load_default=None, allow_none=True, max_length=500)


class WebhookPatchSchema(WebhookRulesSchema):
    url = _url_field()
    event_types = _event_types_field()
    description = text_field(allow_none=True, max_length=500)
    enabled = fields.Boolean(metadata={
        "description": "false pauses deliveries; true resumes them (and clears why the "
                       "endpoint was disabled)."})


class WebhookSchema(ma.Schema):
    id = fields.String(required=True, metadata={"format": "uuid"})
    url = fields.String(required=True)
    event_types = fields.List(fields.String(), required=True)
    description = fields.String(allow_none=True)
    enabled = fields.Boolean(required=True)
    status = fields.Function(lambda endpoint: "enabled" if endpoint["enabled"] else "disabled",
                             dump_only=True, metadata={
                                 "description": "enabled or disabled (the same as enabled)."})
    disabled_reason = fields.String(allow_none=True, metadata={
        "description": "Why deliveries stopped: '410 Gone', failing for days, or set by hand."})
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(required=True, allow_none=True, metadata={
        "description": "The signing secret (whsec_…), shown in this answer only; null when the "
                       "answer is replayed for a repeated Idempotency-Key."})


class DeliverySchema(ma.Schema):
    id = fields.String(required=True, metadata={"format": "uuid"})
    event_id = fields.String(required=True, metadata={"description": "Also the webhook-id header."})
    event_type = fields.String(required=True)
    status = fields.String(required=True, metadata={
        "description": "pending (an attempt is due at next_attempt_at), delivered (a 2xx answer) "
                       "or failed (every attempt failed)."})
    attempts = fields.Integer(required=True)
    last_status_code = fields.Integer(allow_none=True, metadata={
        "description": "The HTTP status of the last answer; null when there was none."})
    last_response_code = fields.Integer(attribute="last_status_code", allow_none=True,
                                        dump_only=True,
                                        metadata={"description": "The same as last_status_code."})
    last_error = fields.String(allow_none=True)
    last_attempt_at = Timestamp(allow_none=True)
    next_attempt_at = Timestamp(allow_none=True)
    delivered_at = Timestamp(allow_none=True)
    created_at = Timestamp(required=True)


def _delivery_status(value: str) -> None:
    if value not in DELIVERY_STATUSES:
        raise ma.ValidationError(f"Must be one of: {', '.join(DELIVERY_STATUSES)}.")


class DeliveryListArgs(PageArgs):
    status = fields.String(validate=_delivery_status, metadata={
        "description": "Only the deliveries in this state: pending, delivered or failed."})


# -- idempotency: the secret is never kept for a replay -------------------------------------------
def _without_secret(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "secret"}


def _secret_withheld(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "secret": None}


def idempotent_secret(view):
    replaying = idempotent_with(store=_without_secret, replay=_secret_withheld)(view)

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        response = current_app.make_response(replaying(*args, **kwargs))
        if response.headers.get("Idempotent-Replayed") == "true":
            response.headers[SECRET_WITHHELD] = SECRET_WITHHELD_REASON
        return response

    return wrapper


# -- views --------------------------------------------------------------------------------------
def _endpoint_or_404(session, webhook_id) -> dict:
    endpoint = _store().get_endpoint(session, ctx().tables, str(webhook_id))
    if endpoint is None:
        raise NotFound("No webhook endpoint with this id.")
    return endpoint


def _location(webhook_id: str) -> str:
    return f"{request.script_root or ''}/api/v1/webhooks/{webhook_id}"


_WEBHOOK_CREATED_SCHEMA = WebhookCreatedSchema()


@blp.route("")
class Webhooks(MethodView):
    @admin_only
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(WebhookSchema))
    def get(self, args):
        """List the webhook endpoints (admin)."""
        with ctx().database.transaction() as session:
            endpoints = _store().list_endpoints(session, ctx().tables)
        first = (args["page"] - 1) * args["per_page"]
        return page_of(endpoints[first:first + args["per_page"]], args["page"], args["per_page"],
                       len(endpoints))

    @admin_only
    @idempotent_secret
    @blp.arguments(WebhookInSchema)
    @blp.response(201, WebhookCreatedSchema)
    def post(self, fields_):
        """Register an endpoint (admin); the answer shows its signing secret, once.

        Nothing is delivered until a matching event is committed, or a test is asked for."""
        check_rules(fields_)
        with ctx().database.transaction() as session:
            endpoint = _store().create_endpoint(
                session, ctx().tables, url=fields_["url"], event_types=list(fields_["event_types"]),
                description=fields_.get("description"), now=ctx().clock())
        response = current_app.make_response((_WEBHOOK_CREATED_SCHEMA.dump(endpoint), 201))
        response.headers["Location"] = _location(endpoint["id"])
        return response


@blp.route("/<uuid:webhook_id>")
class Webhook(MethodView):
    @admin_only
    @blp.response(200, WebhookSchema)
    def get(self, webhook_id):
        """Read one endpoint (admin); its secret is never shown again."""
        with ctx().database.transaction() as session:
            return _endpoint_or_404(session, webhook_id)

    @admin_only
    @blp.arguments(WebhookPatchSchema)
    @blp.response(200, WebhookSchema)
    def patch(self, changes, webhook_id):
        """Change an endpoint's URL, event types or description, or disable or enable it."""
        check_rules(changes)
        with ctx().database.transaction() as session:
            endpoint = _store().update_endpoint(session, ctx().tables, str(webhook_id), changes,
                                                ctx().clock())
        if endpoint is None:
            raise NotFound("No webhook endpoint with this id.")
        return endpoint

    @admin_only
    @blp.response(204)
    def delete(self, webhook_id):
        """Delete an endpoint and its delivery log; nothing more is sent to it."""
        with ctx().database.transaction() as session:
            deleted = _store().delete_endpoint(session, ctx().tables, str(webhook_id))
        if not deleted:
            raise NotFound("No webhook endpoint with this id.")
        return None


@blp.route("/<uuid:webhook_id>/deliveries")
class Deliveries(MethodView):
    @admin_only
    @blp.arguments(DeliveryListArgs, location="query")
    @blp.response(200, page_schema(DeliverySchema))
    def get(self, args, webhook_id):
        """The endpoint's deliveries, newest first: status, attempts, last answer (admin)."""
        with ctx().database.transaction() as session:
            _endpoint_or_404(session, webhook_id)
            items, total = _store().list_deliveries(
                session, ctx().tables, str(webhook_id), status=args.get("status"),
                limit=args["per_page"], offset=(args["page"] - 1) * args["per_page"])
        return page_of(items, args["page"], args["per_page"], total)


@blp.route("/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/retry")
class Retry(MethodView):
    @admin_only
    @blp.response(202, DeliverySchema)
    def post(self, webhook_id, delivery_id):
        """Send a delivery again now (a failed one, or a delivered one once more)."""
        with ctx().database.transaction() as session:
            delivery = _store().retry_delivery(session, ctx().tables, str(webhook_id),
                                               str(delivery_id), ctx().clock())
        if delivery is None:
            raise NotFound("No delivery with this id for this webhook endpoint.")
        return delivery


@blp.route("/<uuid:webhook_id>/test")
class TestPing(MethodView):
    @admin_only
    @blp.response(202, DeliverySchema)
    def post(self, webhook_id):
        """Queue a test event (``webhook.test``) for the endpoint; it is sent within seconds."""
        with ctx().database.transaction() as session:
            _endpoint_or_404(session, webhook_id)
            return _store().enqueue_test(session, ctx().tables, str(webhook_id),
                                         service=ctx().service, now=ctx().clock())
