"""Flash messages without a server-side session: a signed cookie ``clientloop_flash`` (path
``/``, so a message set by one service is shown by the next page of any other), read once.

``flash(message, category)`` after a POST; the page the redirect lands on shows and clears it.
"""
from __future__ import annotations

from flask import Response, current_app, g, request
from itsdangerous import BadSignature, URLSafeSerializer

FLASH_COOKIE = "clientloop_flash"
CATEGORIES = ("success", "info", "warning", "error")
_SALT = "clientloop.console-flash.v1"
MAX_MESSAGES = 5
MAX_LENGTH = 500


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.extensions["clientloop"].settings.secret_key, salt=_SALT)


def flash(message: str, category: str = "success") -> None:
    """Show ``message`` (already in the reader's language: pass ``_("…")``) on the next page."""
    if category not in CATEGORIES:
        category = "info"
    outgoing = g.setdefault("console_flash_out", [])
    if len(outgoing) < MAX_MESSAGES:
        outgoing.append([category, str(message)[:MAX_LENGTH]])


def get_flashed_messages() -> list[tuple[str, str]]:
    """``(category, message)`` pairs waiting for this page (removed once the page is sent)."""
    if "console_flash_in" not in g:
        messages: list[tuple[str, str]] = []
        raw = request.cookies.get(FLASH_COOKIE)
        if raw:
            try:
                messages = [(str(c), str(m)) for c, m in _serializer().loads(raw)][:MAX_MESSAGES]
            except (BadSignature, TypeError, ValueError):
                messages = []
        g.console_flash_in = messages
    # Messages flashed by this request, when it renders a page instead of redirecting.
    g.console_flash_in.extend((c, m) for c, m in g.pop("console_flash_out", []))
    return g.console_flash_in


def save_flashes(response: Response) -> Response:
    """``after_request``: keep new messages for the next page; drop the ones shown."""
    outgoing = g.get("console_flash_out")
    if outgoing:
        response.set_cookie(FLASH_COOKIE, _serializer().dumps(outgoing), path="/",
                            secure=request.is_secure, httponly=True, samesite="Lax")
    elif "console_flash_in" in g and FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/", secure=request.is_secure, httponly=True,
                               samesite="Lax")
    return response
