"""The console session: a signed cookie valid on every service, and the CSRF token bound to it.

``clientloop_console`` holds the bearer token the user signed in with and a random session id,
signed with the secret key (``itsdangerous``), so every service sharing the key reads it. It is
HttpOnly, SameSite=Lax, ``Path=/``, Secure when the request came over HTTPS (behind the gateway
``CLIENTLOOP_PROXY_HOPS`` makes ``X-Forwarded-Proto`` count), and expires with the token. On
every page the token is verified again: a forged cookie, an expired token or one revoked with
``clientloop token revoke`` (the service's revocation list, as for the API) is no session.

The CSRF token is an HMAC of the session id: every form of the session carries it
(``csrf_token`` field) and another session's token does not match. Writes are also refused when
the browser says they come from another site (``Origin``, ``Sec-Fetch-Site``).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import Response, current_app, g, request
from itsdangerous import BadSignature, URLSafeSerializer

from shared.auth import InvalidToken, Principal, verify_token
from shared.web.security import revocation_list

SESSION_COOKIE = "clientloop_console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SALT = "clientloop.console-session.v1"
_CSRF_SALT = b"clientloop.console-csrf.v1:"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class ConsoleSession:
    principal: Principal
    token: str
    session_id: str


def _ctx():
    return current_app.extensions["clientloop"]


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(_ctx().settings.secret_key, salt=_SALT)


def principal_of(token: str) -> Principal:
    """The principal of a bearer token that is valid now and not revoked (else InvalidToken)."""
    ctx = _ctx()
    principal = verify_token(ctx.settings.secret_key, token.strip(), now=ctx.clock())
    if revocation_list(current_app).is_revoked(principal.token_id):
        raise InvalidToken("revoked")
    return principal


def load_session() -> ConsoleSession | None:
    """This request's session, or None (no cookie, forged, expired or revoked). Cached."""
    if "console_session" in g:
        return g.console_session
    g.console_session = None
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        try:
            data = _serializer().loads(raw)
            token, session_id = str(data["t"]), str(data["s"])
        except (BadSignature, KeyError, TypeError):
            return None
        try:
            principal = principal_of(token)
        except InvalidToken:
            return None
        g.console_session = ConsoleSession(principal, token, session_id)
    return g.console_session


def had_session_cookie() -> bool:
    return SESSION_COOKIE in request.cookies


def start_session(response: Response, token: str, principal: Principal) -> ConsoleSession:
    """Set the session cookie for ``token`` on ``response`` (a new session id, so a new CSRF
    token: one learnt before signing in is of no use after)."""
    session = ConsoleSession(principal, token, secrets.token_urlsafe(18))
    value = _serializer().dumps({"t": token, "s": session.session_id})
    response.set_cookie(SESSION_COOKIE, value, expires=principal.expires_at, path="/",
                        secure=request.is_secure, httponly=True, samesite="Lax")
    g.console_session = session
    return session


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=request.is_secure, httponly=True,
                           samesite="Lax")


# -- CSRF ----------------------------------------------------------------------------------
def csrf_token() -> str:
    """The CSRF token of this request's session ("" without a session)."""
    session = load_session()
    if session is None:
        return ""
    key = _ctx().settings.secret_key.encode()
    return hmac.new(key, _CSRF_SALT + session.session_id.encode(), hashlib.sha256).hexdigest()


def csrf_valid() -> bool:
    submitted = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = csrf_token()
    return bool(expected) and hmac.compare_digest(submitted.encode(), expected.encode())


def site_origins() -> set[str]:
    """This site as the browser sees it: the request's scheme and host (the public ones behind
    the gateway), and ``CLIENTLOOP_PUBLIC_URL``'s origin."""
    origins = {f"{request.scheme}://{request.host}".lower()}
    public_url = _ctx().settings.public_url
    if public_url:
        parts = urlsplit(public_url)
        origins.add(f"{parts.scheme}://{parts.netloc}".lower())
    return origins


def same_site_request() -> bool:
    """False when the browser says the request comes from another site."""
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return origin.lower().rstrip("/") in site_origins()


def now() -> datetime:
    return _ctx().clock()
