"""What every service's console shares: the page decorator, sign-in and sign-out, the language
switch, the headers of every page and the error pages.

All of it hangs on the service's ``console`` blueprint (:func:`make_console_blueprint`), so the
routes are ``/<service>/console/sign-in`` etc. on every service, and the error pages cover the
console's paths only (the API keeps its problem details).
"""
from __future__ import annotations

import logging
from functools import wraps
from typing import Callable
from urllib.parse import quote

from flask import (Blueprint, Response, current_app, g, redirect, render_template, request,
                   url_for)
from werkzeug.exceptions import HTTPException, NotFound

from shared import errors
from shared.auth import ROLES, InvalidToken, Principal, issue
from shared.outages import RETRY_AFTER_S, dependency_unavailable
from shared.sign_in_links import LINK_SERVICE, read_link
from shared.tokens import RevocationListUnavailable, record_token, use_once
from shared.web.console import session as sessions
from shared.web.console.flashes import flash, save_flashes
from shared.web.console.i18n import LANGUAGE_COOKIE, LANGUAGES, N_, _
from shared.web.problems import STATUS_BY_ERROR, log_unavailable

log = logging.getLogger("clientloop.console")

#: Roles from least to most: a page or an action needing one is open to the ones after it.
RANK = {"analyst": 0, "staff": 1, "admin": 2}
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                           "script-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                           "base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Robots-Tag": "noindex, nofollow",
}
LANGUAGE_COOKIE_DAYS = 365


# -- who is signed in ----------------------------------------------------------------------
def current_principal() -> Principal | None:
    """The signed-in principal of this request, if any (never raises for a bad cookie)."""
    principal = g.get("principal")
    if principal is not None:
        return principal
    try:
        session = sessions.load_session()
    except RevocationListUnavailable:
        return None
    return session.principal if session else None


def has_role(principal: Principal | None, role: str) -> bool:
    return principal is not None and RANK.get(principal.role, -1) >= RANK[role]


def can(role: str) -> bool:
    """Whether the signed-in principal has ``role`` or a higher one (to offer an action)."""
    return has_role(current_principal(), role)


def staff_page(role: str | Callable = "analyst"):
    """A console page for a signed-in ``role`` or higher (``@staff_page()``, ``@staff_page("staff")``).

    No valid session → 303 to sign-in. A write (POST, PUT, PATCH, DELETE) needs ``staff`` at
    least, whatever ``role`` says, and a valid CSRF token from a page of this site: checked
    before the view runs, so a refused write changes nothing (403 page).
    """
    if callable(role):  # used bare: @staff_page
        return staff_page("analyst")(role)
    if role not in RANK:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def page(*args, **kwargs):
            session = sessions.load_session()
            if session is None:
                return to_sign_in()
            g.principal = session.principal
            writing = request.method not in SAFE_METHODS
            if writing and not (sessions.same_site_request() and sessions.csrf_valid()):
                return csrf_refused()
            needed = max(role, "staff", key=RANK.get) if writing else role
            if not has_role(session.principal, needed):
                return error_page(403, _("Your role (%(role)s) may not do this.",
                                         role=role_label(session.principal.role)))
            return view(*args, **kwargs)

        page._clientloop_console_role = role
        return page

    return decorate


def role_label(role: str) -> str:
    return {"admin": _("admin"), "staff": _("staff"), "analyst": _("analyst")}.get(role, role)


# -- where things are ------------------------------------------------------------------------
def service_name() -> str:
    return current_app.extensions["clientloop"].service


def site_root() -> str:
    """The site's root as the browser sees it: the request's script root without this
    service's prefix (``/registry`` embedded or behind the gateway → ``""``)."""
    root = request.script_root.rstrip("/")
    suffix = "/" + service_name()
    return root[: -len(suffix)] if root.endswith(suffix) else root


def console_url(service: str, path: str = "") -> str:
    """``/<service>/console/<path>`` on this site (the navigation bar's links); this service's
    own pages by its script root, so they work even where it is served alone."""
    if service == service_name():
        return f"{landing()}{path.lstrip('/')}"
    return f"{site_root()}/{service}/console/{path.lstrip('/')}"


def landing() -> str:
    return request.script_root.rstrip("/") + "/console/"


def this_page() -> str:
    full = request.script_root + request.path
    query = request.query_string.decode("latin-1")
    return full + ("?" + query if query else "")


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path on this site (never another host: no open redirect)."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(char) < 32 or ord(char) == 127 for char in value):
        return None
    return value


def redirect_back(endpoint: str, **values) -> Response:
    """303 to ``endpoint`` (post → redirect → get); ``endpoint`` may be a path."""
    target = endpoint if endpoint.startswith("/") else url_for(endpoint, **values)
    return redirect(target, 303)


def to_sign_in() -> Response:
    """303 to sign-in, coming back here afterwards (to the landing page after a refused write,
    whose form is gone)."""
    back = this_page() if request.method in SAFE_METHODS else landing()
    target = f"{landing()}sign-in?next={quote(back, safe='/')}"
    response = redirect(target, 303)
    if sessions.had_session_cookie():
        sessions.end_session(response)  # forged, expired or revoked: forget it
    return response


# -- pages ---------------------------------------------------------------------------------
def error_title(status: int) -> str:
    return {
        400: _("Bad request"), 403: _("Not allowed"), 404: _("Page not found"),
        405: _("Not allowed"), 409: _("Conflict"), 410: _("No longer available"),
        413: _("Too large"), 422: _("Invalid fields"), 429: _("Too many requests"),
        503: _("Service unavailable"),
    }.get(status, _("Something went wrong"))


def error_page(status: int, message: str | None = None, *, headers: dict | None = None) -> Response:
    default = {
        403: _("You may not do this."),
        404: _("There is no page at this address."),
        503: _("A service this page needs is unreachable; try again in a few seconds."),
    }.get(status, _("The request could not be completed."))
    body = render_template("console/error.html", status=status, title=error_title(status),
                           message=message or default, principal=current_principal())
    return Response(body, status=status, headers=headers or {}, mimetype="text/html")


def csrf_refused() -> Response:
    return error_page(403, _("This form has expired or did not come from this site. "
                             "Go back, reload the page and try again."))


def sign_in_page(status: int = 200, error: str | None = None) -> Response:
    body = render_template("console/sign_in.html", error=error,
                           next=safe_next(request.values.get("next")) or "",
                           principal=current_principal())
    return Response(body, status=status, mimetype="text/html")


# -- the shared routes ----------------------------------------------------------------------
def add_shared_routes(bp: Blueprint) -> None:
    bp.add_url_rule("/sign-in", "sign_in", show_sign_in, methods=["GET"])
    bp.add_url_rule("/sign-in", "sign_in_post", sign_in, methods=["POST"])
    if getattr(bp, "console_service", None) == LINK_SERVICE:  # used up in that database only
        bp.add_url_rule("/sign-in/<link_token>", "sign_in_link", sign_in_with_link, methods=["GET"])
    bp.add_url_rule("/sign-out", "sign_out", sign_out, methods=["POST"])
    bp.add_url_rule("/language", "language", switch_language, methods=["POST"])
    bp.add_url_rule("/<path:anything>", "not_found", not_found,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"])


def show_sign_in():
    return sign_in_page()


TOKEN_ERRORS = {
    "missing": N_("Paste your token."),
    "invalid": N_("This token is not valid."),
    "expired": N_("This token has expired; ask an admin for a new one."),
    "revoked": N_("This token has been revoked; ask an admin for a new one."),
}


def sign_in():
    if not sessions.same_site_request():
        return csrf_refused()
    token = (request.form.get("token") or "").strip()
    try:
        if not token:
            raise InvalidToken("missing")
        principal = sessions.principal_of(token)
    except InvalidToken as refused:
        return sign_in_page(422, _(TOKEN_ERRORS[refused.reason]))
    return _signed_in(token, principal)


def _signed_in(token: str, principal: Principal) -> Response:
    response = redirect(safe_next(request.values.get("next")) or landing(), 303)
    sessions.start_session(response, token, principal)
    flash(_("Signed in as %(name)s (%(role)s).", name=principal.name,
            role=role_label(principal.role)), "success")
    return response


def sign_in_with_link(link_token: str):
    """A one-time link (``clientloop console link``): the first use signs in with a new token
    for the link's name and role; any later use is refused."""
    ctx = current_app.extensions["clientloop"]
    now = ctx.clock()
    try:
        link = read_link(ctx.settings.secret_key, link_token, now=now)
    except InvalidToken as refused:
        message = (_("This sign-in link has expired; ask for a new one.") if refused.reason == "expired"
                   else _("This sign-in link is not valid."))
        return sign_in_page(410 if refused.reason == "expired" else 400, message)
    if not use_once(ctx.database, ctx.tables.api_token, link.token_id, now=now):
        return sign_in_page(410, _("This sign-in link has already been used; ask for a new one."))
    token, principal = issue(ctx.settings.secret_key, name=link.name, role=link.role,
                             days=ctx.settings.token_days, now=now)
    record_token(ctx.database, ctx.tables.api_token, principal, now=now)
    response = _signed_in(token, principal)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def sign_out():
    session = sessions.load_session()
    if session is not None and not (sessions.same_site_request() and sessions.csrf_valid()):
        return csrf_refused()
    response = redirect(f"{landing()}sign-in", 303)
    sessions.end_session(response)
    flash(_("You have signed out."), "info")
    return response


def switch_language():
    """Remember the language (cookie ``clientloop_lang``, whole site) and go back."""
    if not sessions.same_site_request():
        return csrf_refused()
    if sessions.load_session() is not None and not sessions.csrf_valid():
        return csrf_refused()
    language = request.form.get("language")
    response = redirect(safe_next(request.form.get("next")) or landing(), 303)
    if language in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=LANGUAGE_COOKIE_DAYS * 86400,
                            path="/", secure=request.is_secure, httponly=True, samesite="Lax")
    return response


def not_found(anything: str):
    raise NotFound()


# -- every console response ------------------------------------------------------------------
def add_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
        response.vary.add("Cookie")
        response.vary.add("Accept-Language")
    return save_flashes(response)


def http_error(error: HTTPException):
    original = getattr(error, "original_exception", None)
    if error.code == 500 and original is not None:
        return unexpected(original)
    headers = {}
    if error.code == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return error_page(error.code or 500, headers=headers)


def domain_error(error: errors.DomainError):
    if isinstance(error, InvalidToken):
        return to_sign_in()
    status = next((code for cls, code in STATUS_BY_ERROR if isinstance(error, cls)), 400)
    message = error.detail if status in (403, 409, 410, 412, 422) else None
    return error_page(status, message)


def unexpected(error: Exception):
    if isinstance(error, HTTPException):
        return http_error(error)
    if isinstance(error, errors.DomainError):
        return domain_error(error)
    if isinstance(error, RevocationListUnavailable) or dependency_unavailable(error):
        log_unavailable(error)
        return error_page(503, headers={"Retry-After": str(RETRY_AFTER_S)})
    log.exception("unexpected error on a console page", exc_info=error)
    return error_page(500, _("An unexpected error occurred; it has been logged."))


def add_error_pages(bp: Blueprint) -> None:
    bp.register_error_handler(HTTPException, http_error)
    bp.register_error_handler(errors.DomainError, domain_error)
    bp.register_error_handler(Exception, unexpected)


def is_console_path() -> bool:
    return request.path == "/console" or request.path.startswith("/console/")


def add_routing_error_pages(app) -> None:
    """404 and 405 found while routing (an id that is not one, a method a page does not take)
    happen before any blueprint is chosen: under ``/console/`` they are pages too; elsewhere
    the app's own handler (problem details, the survey form's pages) answers as before."""

    def routing_error(error: HTTPException):
        if is_console_path():
            return add_headers(http_error(error))
        handler = _class_handler(app, type(error))
        return handler(error) if handler is not None else error

    app.register_error_handler(404, routing_error)
    app.register_error_handler(405, routing_error)


def _class_handler(app, error_class):
    handlers = app.error_handler_spec[None][None]
    for cls in error_class.__mro__:
        if cls in handlers:
            return handlers[cls]
    return None
