"""Bearer-token authentication and role checks for every ``/api/v1`` route.

Runs before the request body is parsed, so a caller without a valid token gets 401 and a caller
whose role may not write gets 403 before anything about their input is looked at.

* ``GET``/``HEAD`` need any role (``admin``, ``staff``, ``analyst``);
* other methods need ``staff`` or ``admin``;
* views marked :func:`admin_only` need ``admin``; views marked :func:`public` need nothing.

A token that is validly signed and unexpired is still refused (401, ``reason: revoked``) when its
id is on the service's revocation list (``shared.tokens.RevocationList``, re-read every 2 s).
"""
from __future__ import annotations

from typing import Callable

from flask import Flask, current_app, g, request

from shared.auth import InvalidToken, Principal, verify_token
from shared.errors import Forbidden
from shared.tokens import RevocationList

API_PREFIX = "/api/v1/"


def public(view: Callable) -> Callable:
    view._clientloop_access = "public"
    return view


def admin_only(view: Callable) -> Callable:
    view._clientloop_access = "admin"
    return view


def _access_of_current_view() -> str | None:
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return None
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        method = getattr(view_class, request.method.lower(), None)
        return getattr(method, "_clientloop_access", None)
    return getattr(view, "_clientloop_access", None)


def revocation_list(app: Flask) -> RevocationList:
    """The app's list of revoked token ids, made on first use."""
    revocations = app.extensions.get("clientloop_revocations")
    if revocations is None:
        ctx = app.extensions["clientloop"]
        revocations = app.extensions.setdefault(
            "clientloop_revocations", RevocationList(ctx.database, ctx.tables.api_token, clock=ctx.clock))
    return revocations


def current_principal() -> Principal:
    return g.principal


def bearer_principal(app: Flask, authorization: str) -> Principal:
    """The caller an ``Authorization: Bearer …`` header names: ``InvalidToken`` when the token
    is missing, not signed here, expired or revoked (the app's revocation list)."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("missing")
    ctx = app.extensions["clientloop"]
    principal = verify_token(ctx.settings.secret_key, token.strip(), now=ctx.clock())
    if revocation_list(app).is_revoked(principal.token_id):
        raise InvalidToken("revoked")
    return principal


def authenticate() -> None:
    """``before_request`` hook."""
    g.principal = None
    if request.url_rule is None or not request.path.startswith(API_PREFIX):
        return
    access = _access_of_current_view()
    if access == "public" or request.method == "OPTIONS":
        return
    principal = bearer_principal(current_app, request.headers.get("Authorization", ""))
    g.principal = principal
    if access == "admin" and not principal.is_admin():
        raise Forbidden("Only an admin may do this.")
    if request.method not in ("GET", "HEAD") and not principal.can_write():
        raise Forbidden(f"The role '{principal.role}' may only read.")
