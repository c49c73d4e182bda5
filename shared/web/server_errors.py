"""Problem details for the requests gunicorn refuses before any app sees them.

gunicorn's HTTP parser answers a request line over its limit (414), a header over its limit
(431) or a request that is not valid HTTP/1.1 — a path or query string with raw non-ASCII bytes,
say (400) — with a small HTML page of its own. :func:`install` (called in every worker by
``shared.gunicorn_conf``) makes those answers ``application/problem+json`` like every other
error. The detail never repeats the request line: it may hold a survey link's token.

The limits are raised to what the production gateway (nginx, ``large_client_header_buffers
4 8k``) lets through, so behind the gateway and in the embedded default alike a request line or
header field up to 8,190 bytes reaches the app.
"""
from __future__ import annotations

import json

#: The longest request line and header field gunicorn accepts (its maximum, and nginx's).
MAX_REQUEST_LINE = 8190
MAX_HEADER_FIELD = 8190

TITLES = {
    400: "Malformed request", 403: "Forbidden", 414: "URI too long",
    417: "Expectation failed", 431: "Request header fields too large",
    500: "Internal server error", 501: "Not implemented",
}

DETAILS = {
    400: "The request is not valid HTTP/1.1: for example, a path or query string with raw "
         "non-ASCII bytes or spaces (percent-encode them as UTF-8) or a malformed header.",
    414: f"The request line is longer than {MAX_REQUEST_LINE} bytes; send fewer or shorter "
         "query parameters.",
    431: f"A request header is longer than {MAX_HEADER_FIELD} bytes, or there are too many.",
    500: "An unexpected error occurred; it has been logged.",
}


def problem_bytes(status: int, reason: str) -> bytes:
    """The whole HTTP answer (status line, headers, problem body); the connection closes."""
    body = json.dumps({
        "type": f"urn:clientloop:problem:{status}" if status != 500 else "about:blank",
        "title": TITLES.get(status, reason),
        "status": status,
        "detail": DETAILS.get(status, reason),
    }).encode("utf-8")
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


def write_problem(sock, status_int: int, reason: str, _mesg: str) -> None:
    """Drop-in for ``gunicorn.util.write_error``; ``_mesg`` (it quotes the request) is unused."""
    from gunicorn import util
    util.write_nonblock(sock, problem_bytes(int(status_int), reason))


def install() -> None:
    """Make gunicorn's own error answers problem details (in the calling worker process)."""
    from gunicorn import util
    util.write_error = write_problem
