"""RFC 9457 problem details for every error, from every service.

flask-smorest's own error handler returns ``{"code", "status", "message"}``; :class:`ProblemApi`
replaces it so that unknown paths, wrong methods, malformed JSON, oversized bodies, validation,
auth, missing resources and conflicts all answer ``application/problem+json``. A database or
broker outage (``shared.outages``) is a 503 with ``Retry-After``, never a 500.
"""
from __future__ import annotations

import http
import logging
from typing import Any, Mapping

import marshmallow as ma
from flask import Response, json, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import fields
from werkzeug.exceptions import HTTPException, NotFound

from shared import errors
from shared.auth import InvalidToken
from shared.outages import RETRY_AFTER_S, dependency_unavailable

log = logging.getLogger("clientloop.web")

PROBLEM_CONTENT_TYPE = "application/problem+json"

STATUS_BY_ERROR: tuple[tuple[type[errors.DomainError], int], ...] = (
    (InvalidToken, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.StaleVersion, 412),
    (errors.Gone, 410),
    (errors.Conflict, 409),
    (errors.ValidationFailed, 422),
)

TITLES = {
    400: "Malformed request", 401: "Authentication required", 403: "Forbidden",
    404: "Not found", 405: "Method not allowed", 409: "Conflict", 410: "Gone",
    412: "Precondition failed", 413: "Request body too large", 415: "Unsupported media type",
    422: "Invalid fields", 429: "Too many requests", 500: "Internal server error",
    503: "Service unavailable",
}


def problem(status: int, detail: str | None = None, *, title: str | None = None,
            errors_: Mapping[str, list[str]] | None = None, headers: Mapping[str, str] | None = None,
            **extra: Any) -> Response:
    body: dict[str, Any] = {
        "type": f"urn:clientloop:problem:{status}" if status != 500 else "about:blank",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail or title or TITLES.get(status, "Error"),
    }
    if errors_:
        body["errors"] = {key: list(value) for key, value in errors_.items()}
    try:
        body["instance"] = request.script_root + request.path  # with the service's prefix
    except RuntimeError:
        pass
    body.update(extra)
    response = Response(json.dumps(body, ensure_ascii=False), status=status,
                        content_type=PROBLEM_CONTENT_TYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error dicts → ``{"annual_value.amount": ["…"]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = "" if key == "_schema" else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            for sub_key, sub_messages in flatten_messages(value, path).items():
                flat.setdefault(sub_key, []).extend(sub_messages)
    elif isinstance(messages, (list, tuple)):
        if all(isinstance(item, str) for item in messages):
            flat.setdefault(prefix or "_body", []).extend(messages)
        else:
            for item in messages:
                for sub_key, sub_messages in flatten_messages(item, prefix).items():
                    flat.setdefault(sub_key, []).extend(sub_messages)
    elif messages is not None:
        flat.setdefault(prefix or "_body", []).append(str(messages))
    return flat


def validation_errors_from(data: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """webargs puts errors under the location (``json``, ``query``, ``headers``)."""
    messages = (data or {}).get("messages") or (data or {}).get("errors") or {}
    flat: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for location, location_messages in messages.items():
            for key, value in flatten_messages(location_messages).items():
                flat.setdefault(key, []).extend(value)
    return flat


def http_exception_problem(error: HTTPException) -> Response:
    status = error.code or 500
    original = getattr(error, "original_exception", None)
    if status == 500 and original is not None and dependency_unavailable(original):
        return unavailable_problem(original)
    data = getattr(error, "data", None) or {}
    headers = dict(data.get("headers") or {})
    if status == 422:
        return problem(422, "One or more fields are invalid.", errors_=validation_errors_from(data),
                       headers=headers)
    if status == 400 and data.get("messages"):
        return problem(400, "The request body is not valid JSON.", headers=headers)
    if status == 405 and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    if status == 429:
        retry = getattr(error, "retry_after", None)
        headers.setdefault("Retry-After", str(retry or 60))
    detail = data.get("message") or error.description
    if status == 404 and detail == NotFound.description:  # no such path: say where to look
        detail = f"Nothing at this path; GET {request.script_root}/ lists what this service serves."
    return problem(status, detail, headers=headers)


def domain_error_problem(error: errors.DomainError) -> Response:
    status = next((code for cls, code in STATUS_BY_ERROR if isinstance(error, cls)), 400)
    headers: dict[str, str] = {}
    extra = dict(error.extra)
    errs = getattr(error, "errors", None)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="clientloop"'
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return problem(status, error.detail, title=error.title, errors_=errs, headers=headers, **extra)


def unexpected_error_problem(error: Exception) -> Response:
    if dependency_unavailable(error):
        return unavailable_problem(error)
    log.exception("unexpected error", exc_info=error)
    return problem(500, "An unexpected error occurred; it has been logged.")


def unavailable_problem(error: Exception) -> Response:
    """503 with ``Retry-After``: the database or broker is unreachable, not the request wrong."""
    log_unavailable(error)
    return problem(503, "A service this request needs is unreachable; try again shortly.",
                   headers={"Retry-After": str(RETRY_AFTER_S)})


def log_unavailable(error: Exception) -> None:
    """One warning line; the driver's message only, never the SQL or its parameters."""
    reason = getattr(error, "orig", None) or error
    lines = str(reason).strip().splitlines()
    log.warning("dependency unavailable", extra={
        "error": type(error).__name__, "reason": lines[0][:300] if lines else type(reason).__name__})


class ProblemSchema(ma.Schema):
    """The body of every error (RFC 9457); extension members such as ``allowed_actions`` may follow."""

    class Meta:
        unknown = ma.INCLUDE

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "Messages by field, nested fields by dotted path."})


class ProblemApi(Api):
    """flask-smorest ``Api`` whose every error is a problem-details response, and is documented
    as one (``application/problem+json``, :class:`ProblemSchema`) in ``/openapi.json``."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error (problem details)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)

    def _register_error_handlers(self):
        app = self._app
        app.register_error_handler(HTTPException, self.handle_http_exception)
        app.register_error_handler(errors.DomainError, domain_error_problem)
        app.register_error_handler(Exception, self._unexpected)

    def handle_http_exception(self, error):  # noqa: D401 - flask-smorest hook
        return http_exception_problem(error)

    @staticmethod
    def _unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return http_exception_problem(error)
        return unexpected_error_problem(error)
