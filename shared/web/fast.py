"""The pieces of a hot path answered without the framework (a WSGI wrapper in front of the Flask
app, such as the survey's public submit and the complaints API's opening).

Such a wrapper answers only the ordinary form of one request and hands everything else to the
Flask app (:class:`HandOver`), which answers it as it always has. What it answers carries what
the app's own answer would: the request id (``X-Request-ID``, echoed or made), the access line
and the request metrics (:func:`answer`).
"""
from __future__ import annotations

import io
import logging
import threading
import time
import uuid
from typing import Callable, Generic, Iterable, TypeVar

T = TypeVar("T")

access_log = logging.getLogger("clientloop.access")


class HandOver(Exception):
    """Not the ordinary request: let the Flask app answer it."""


def read_json_body(environ: dict, limit: int) -> bytes | None:
    """The body when it is JSON of a declared length within ``limit``; ``None`` otherwise (then
    the app reads the body and answers 400, 411 or 413 as usual)."""
    content_type = (environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
    if content_type != "application/json" or "HTTP_TRANSFER_ENCODING" in environ:
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if not 0 < length <= limit:
        return None
    raw = environ["wsgi.input"].read(length)
    if len(raw) != length:   # shorter than declared: give back what came, the app refuses it
        give_back_body(environ, raw)
        return None
    return raw


def give_back_body(environ: dict, raw: bytes) -> None:
    """Put a body already read back into ``environ`` for the app to read."""
    environ["wsgi.input"] = io.BytesIO(raw)
    environ["CONTENT_LENGTH"] = str(len(raw))


def request_id(environ: dict) -> str:
    """The caller's ``X-Request-ID`` when it is usable (as the app takes it), else a new one."""
    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    return incoming if 0 < len(incoming) <= 100 and incoming.isprintable() else str(uuid.uuid4())


def answer(start_response: Callable, observe: Callable[[str, str, str, float], None], *,
           status: int, reason: str, method: str, path: str, body: bytes,
           headers: list[tuple[str, str]], started: float, request: str,
           by: str | None) -> Iterable[bytes]:
    """Send ``body`` with ``headers`` (``Content-Length`` and ``X-Request-ID`` added), count it
    in the metrics under the route ``path`` and write its access line, as the app does for its
    own answers; ``started``: ``time.perf_counter()`` when the request arrived."""
    start_response(f"{status} {reason}", [*headers, ("Content-Length", str(len(body))),
                                          ("X-Request-ID", request)])
    duration = time.perf_counter() - started
    observe(method, path, str(status), duration)
    access_log.info("request", extra={
        "method": method, "path": path, "status": status,
        "duration_ms": round(duration * 1000, 2), "by": by, "request_id": request})
    return [body]


class OnFirstUse(Generic[T]):
    """A value made once, on first use: in the process that uses it (a gunicorn worker makes
    its own driver connections after the fork), by whichever of its threads comes first."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._make()
                value = self._value
        return value


def in_front_of_app(app, wrapper: Callable) -> None:
    """Put ``wrapper(app, wsgi_app)`` in front of the app's WSGI callable — inside the proxy
    headers' fix when there is one, so it sees the request (address, prefix) as the app does."""
    from werkzeug.middleware.proxy_fix import ProxyFix
    if isinstance(app.wsgi_app, ProxyFix):
        app.wsgi_app.app = wrapper(app, app.wsgi_app.app)
    else:
        app.wsgi_app = wrapper(app, app.wsgi_app)
