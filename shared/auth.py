"""Signed bearer tokens: id, name, role and expiry, verifiable from the secret key alone."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from shared.errors import DomainError

ROLES = ("admin", "staff", "analyst")
_SALT = "clientloop.api-token.v1"
MAX_DAYS = 36_500  # a century; much larger values overflow the expiry date


class InvalidToken(DomainError):
    title = "Invalid token"


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


def issue_token(secret_key: str, *, name: str, role: str, days: int, now: datetime) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not name or not name.strip():
        raise ValueError("name must not be empty")
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be from 1 to {MAX_DAYS}")
    expires = now + timedelta(days=days)
    payload = {"jti": str(uuid.uuid4()), "sub": name.strip(), "role": role,
               "exp": int(expires.timestamp())}
    return URLSafeSerializer(secret_key, salt=_SALT).dumps(payload)


def verify_token(secret_key: str, token: str, *, now: datetime) -> Principal:
    try:
        payload = URLSafeSerializer(secret_key, salt=_SALT).loads(token)
    except BadSignature as exc:
        raise InvalidToken("The bearer token is not valid.") from exc
    try:
        expires = datetime.fromtimestamp(int(payload["exp"]), tz=now.tzinfo)
        principal = Principal(str(payload["jti"]), str(payload["sub"]), str(payload["role"]), expires)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidToken("The bearer token is not valid.") from exc
    if principal.role not in ROLES:
        raise InvalidToken("The bearer token names an unknown role.")
    if expires <= now:
        raise InvalidToken("The bearer token has expired.")
    return principal
