"""Query parameters an ``/api/v1`` operation does not take are refused, as unknown body fields are.

webargs leaves unknown query parameters out silently, so ``GET /api/v1/complaints?q=late``
answered every complaint as if unfiltered. :func:`check_query_parameters` (a ``before_request``
hook, after authentication) compares the request's parameters with the query schemas the view
declares (``@blp.arguments(Schema, location="query")``, shown as its parameters in the OpenAPI
document): any other is a 422 naming it (``{"q": ["Unknown parameter."]}``), together with
whatever is wrong with the parameters it does take, so one answer lists every problem. A view
that declares no query schema takes no parameter. Paths outside ``/api/v1`` (health, pages,
``/openapi.json``) are not checked.
"""
from __future__ import annotations

from typing import Any, Callable

import marshmallow as ma
from flask import current_app, request

from shared.errors import ValidationFailed
from shared.web.blueprint import Blueprint
from shared.web.security import API_PREFIX

UNKNOWN_PARAMETER = "Unknown parameter."
_SHOWN = 100


def check_query_parameters() -> None:
    """``before_request`` hook: a 422 when the query names a parameter the view does not take."""
    if (request.url_rule is None or not request.args or request.method == "OPTIONS"
            or not request.path.startswith(API_PREFIX)):
        return
    schemas = declared_query_schemas(_current_view())
    accepted = {field.data_key or name for schema in schemas for name, field in schema.fields.items()}
    unknown = [name for name in request.args if name not in accepted]
    if not unknown:
        return
    errors: dict[str, list[str]] = {_shown(name): [UNKNOWN_PARAMETER] for name in unknown}
    for name, messages in _errors_of_known(schemas).items():
        errors.setdefault(name, []).extend(messages)
    listed = ", ".join(f"'{_shown(name)}'" for name in unknown)
    raise ValidationFailed(errors, detail=f"Unknown query parameter: {listed}. "
                                          "The operation's parameters are in its OpenAPI document.")


def declared_query_schemas(view: Callable | None) -> list[ma.Schema]:
    """The query schemas ``@blp.arguments(..., location="query")`` declared on ``view``."""
    declared = (getattr(view, "_apidoc", None) or {}).get("arguments", {}).get("parameters", [])
    schemas = []
    for parameter in declared:
        if parameter.get("in") in ("query", "querystring"):
            schemas.append(Blueprint.ARGUMENTS_PARSER.schema_for(parameter["schema"]))
    return schemas


def _current_view() -> Callable | None:
    view = current_app.view_functions.get(request.endpoint or "")
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        method = "get" if request.method == "HEAD" else request.method.lower()
        return getattr(view_class, method, None)
    return view


def _errors_of_known(schemas: list[ma.Schema]) -> dict[str, list[str]]:
    """The parameters' own problems (``per_page=0``), as the view would report them."""
    from shared.web.problems import flatten_messages
    errors: dict[str, list[str]] = {}
    for schema in schemas:
        try:
            schema.load(_query_data(schema), unknown=ma.EXCLUDE)
        except ma.ValidationError as error:
            for name, messages in flatten_messages(error.messages).items():
                errors.setdefault(name, []).extend(messages)
    return errors


def _query_data(schema: ma.Schema) -> Any:
    return Blueprint.ARGUMENTS_PARSER.load_querystring(request, schema)


def _shown(name: str) -> str:
    shown = name if len(name) <= _SHOWN else name[:_SHOWN] + "…"
    return shown.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode("utf-8")
