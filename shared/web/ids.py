"""Ids in paths are UUIDs; a path of the right shape whose id is not one says so.

Werkzeug's ``uuid`` converter only matches UUIDs, so ``/api/v1/clients/abc`` matched no route
and answered the same 404 as a path that does not exist at all. :class:`UUIDInPath` matches any
path segment instead and refuses one that is not a UUID with a 404 whose ``detail`` names the
segment: the caller learns that the path is right and the id is not. The OpenAPI document still
gives such parameters as ``format: uuid`` (the converter is a ``UUIDConverter``).

Static routes still win over it (``/api/v1/followups/due`` is never read as an id), and a
path with no route of its shape (``/api/v1/clients/abc/nothing``) is the plain 404.
"""
from __future__ import annotations

import re
import uuid

from werkzeug.exceptions import NotFound
from werkzeug.routing import UUIDConverter

_UUID = re.compile(UUIDConverter.regex)
_SHOWN = 60


class NotAUUID(NotFound):
    def __init__(self, value: str) -> None:
        shown = value if len(value) <= _SHOWN else value[:_SHOWN] + "…"
        shown = shown.encode("unicode_escape").decode("ascii") if not shown.isprintable() else shown
        super().__init__(f"The id '{shown}' is not a UUID (ids look like "
                         "123e4567-e89b-42d3-a456-426614174000).")


class UUIDInPath(UUIDConverter):
    """``<uuid:name>`` for routes whose ids are UUIDs: any segment matches, a non-UUID is a 404."""

    regex = r"[^/]+"

    def to_python(self, value: str) -> uuid.UUID:
        if not _UUID.fullmatch(value):
            raise NotAUUID(value)
        return uuid.UUID(value)


def init_ids(app) -> None:
    """Call before any blueprint is registered: rules pick their converter when added."""
    app.url_map.converters["uuid"] = UUIDInPath
