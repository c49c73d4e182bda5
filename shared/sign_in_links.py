"""One-time console sign-in links: ``clientloop console link --name NAME --role ROLE``.

A link token is signed with the secret key like an API token, under its own salt (a link is
not a bearer token, nor a bearer token a link), and names who signs in, their role and when
the link expires (:data:`LINK_MINUTES` after it was made). Its id is recorded in the
``api_token`` table like a token's; the first sign-in with it marks the id used
(``shared.tokens.use_once``), so a second use, like a revoked link, is refused. Signing in gives
the browser a session carrying a new API token for the same name and role.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from shared.auth import ROLES, InvalidToken, Principal

LINK_MINUTES = 15
_SALT = "clientloop.console-link.v1"
#: The one service whose console takes sign-in links: a link is used up in its database.
LINK_SERVICE = "registry"
#: Where a link signs in, below the public URL.
SIGN_IN_PATH = f"/{LINK_SERVICE}/console/sign-in/"


def _serializer(secret_key: str) -> URLSafeSerializer:
    if not secret_key or not secret_key.strip():
        raise ValueError("the secret key must not be empty")
    return URLSafeSerializer(secret_key, salt=_SALT)


def issue_link(secret_key: str, *, name: str, role: str, now: datetime,
               minutes: int = LINK_MINUTES) -> tuple[str, Principal]:
    """A link token and what it grants (its ``token_id`` is what gets recorded and used)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not name or not name.strip():
        raise ValueError("name must not be empty")
    expires = datetime.fromtimestamp(int((now + timedelta(minutes=minutes)).timestamp()), tz=now.tzinfo)
    principal = Principal(str(uuid.uuid4()), name.strip(), role, expires)
    payload = {"jti": principal.token_id, "sub": principal.name, "role": role,
               "exp": int(expires.timestamp())}
    return _serializer(secret_key).dumps(payload), principal


def read_link(secret_key: str, link_token: str, *, now: datetime) -> Principal:
    """Who the link signs in; :class:`InvalidToken` (``invalid`` or ``expired``) otherwise."""
    try:
        payload = _serializer(secret_key).loads(link_token)
        expires = datetime.fromtimestamp(int(payload["exp"]), tz=now.tzinfo)
        principal = Principal(str(uuid.UUID(str(payload["jti"]))), str(payload["sub"]),
                              str(payload["role"]), expires)
    except (BadSignature, ValueError, KeyError, TypeError, OverflowError, OSError) as exc:
        raise InvalidToken() from exc
    if principal.role not in ROLES or not principal.name.strip():
        raise InvalidToken()
    if expires <= now:
        raise InvalidToken("expired")
    return principal


def link_url(public_url: str, link_token: str) -> str:
    return public_url.rstrip("/") + SIGN_IN_PATH + link_token
