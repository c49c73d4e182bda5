"""Signed bearer tokens: id, name, role and expiry, verifiable from the secret key alone.

Whether a token was revoked is the one thing the signature cannot say: each service checks the
token's id against its revocation list (``shared.tokens``). A refused token says why in
:attr:`InvalidToken.reason` (``missing``, ``invalid``, ``expired`` or ``revoked``) and nothing more.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from shared.config import MAX_TOKEN_DAYS
from shared.errors import DomainError

ROLES = ("admin", "staff", "analyst")
_SALT = "clientloop.api-token.v1"
MAX_DAYS = MAX_TOKEN_DAYS
DETAILS = {
    "missing": "Send 'Authorization: Bearer <token>'.",
    "invalid": "The bearer token is not valid.",
    "expired": "The bearer token has expired.",
    "revoked": "The bearer token has been revoked.",
}


class InvalidToken(DomainError):
    """No token, or one that is not valid, expired or revoked; ``reason`` says which."""

    title = "Invalid token"

    def __init__(self, reason: str = "invalid") -> None:
        super().__init__(DETAILS[reason], reason=reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str
    role: str
    expires_at: datetime

    def can_write(self) -> bool:
        return self.role in ("admin", "staff")

    def is_admin(self) -> bool:
        return self.role == "admin"


def _serializer(secret_key: str) -> URLSafeSerializer:
    if not secret_key or not secret_key.strip():
        raise ValueError("the secret key must not be empty")
    return URLSafeSerializer(secret_key, salt=_SALT)


def issue(secret_key: str, *, name: str, role: str, days: int, now: datetime) -> tuple[str, Principal]:
    """A new token and what it grants (its id is what ``token revoke`` takes)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not name or not name.strip():
        raise ValueError("name must not be empty")
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be from 1 to {MAX_DAYS}")
    expires = datetime.fromtimestamp(int((now + timedelta(days=days)).timestamp()), tz=now.tzinfo)
    principal = Principal(str(uuid.uuid4()), name.strip(), role, expires)
    payload = {"jti": principal.token_id, "sub": principal.name, "role": role,
               "exp": int(expires.timestamp())}
    return _serializer(secret_key).dumps(payload), principal


def issue_token(secret_key: str, *, name: str, role: str, days: int, now: datetime) -> str:
    return issue(secret_key, name=name, role=role, days=days, now=now)[0]


def _payload(secret_key: str, token: str) -> dict:
    try:
        serializer = _serializer(secret_key)
    except ValueError as exc:  # an empty key verifies nothing
        raise InvalidToken() from exc
    try:
        payload = serializer.loads(token)
    except BadSignature as exc:
        raise InvalidToken() from exc
    if not isinstance(payload, dict):
        raise InvalidToken()
    return payload


def verify_token(secret_key: str, token: str, *, now: datetime) -> Principal:
    payload = _payload(secret_key, token)
    try:
        expires = datetime.fromtimestamp(int(payload["exp"]), tz=now.tzinfo)
        principal = Principal(str(payload["jti"]), str(payload["sub"]), str(payload["role"]), expires)
    except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
        raise InvalidToken() from exc
    if principal.role not in ROLES:
        raise InvalidToken()
    if expires <= now:
        raise InvalidToken("expired")
    return principal


def token_id(secret_key: str, token: str) -> str:
    """The id of a token signed with ``secret_key`` (expired or not), for ``token revoke``."""
    try:
        return str(uuid.UUID(str(_payload(secret_key, token)["jti"])))
    except (KeyError, ValueError) as exc:
        raise InvalidToken() from exc
