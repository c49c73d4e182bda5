"""``version``-based ETags and optional ``If-Match`` (a stale one is a 412)."""
from __future__ import annotations

from flask import Response, request

from shared.errors import StaleVersion


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version() -> int | None:
    """The version named by ``If-Match``, ``None`` when absent or ``*``."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    candidates = []
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        tag = tag.strip('"')
        try:
            candidates.append(int(tag))
        except ValueError:
            continue
    if not candidates:
        raise StaleVersion("If-Match does not name a version of this resource.")
    return candidates[0]


def check_version(current: int, expected: int | None) -> None:
    if expected is not None and expected != current:
        raise StaleVersion(f"The resource is at version {current}, not {expected}; reload it and retry.",
                           current_version=current)


def with_etag(response: Response, version: int) -> Response:
    response.headers["ETag"] = etag(version)
    return response
