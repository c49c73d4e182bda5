"""Refuse text no database can store, before anything else looks at it.

JSON may carry ``\\u0000`` (PostgreSQL text cannot hold NUL) and lone surrogates such as
``\\ud800`` (not encodable as UTF-8); either would fail deep in the driver. Both are answered
here as 422 naming the field (dotted path), for the JSON body and the query string alike.
"""
from __future__ import annotations

from typing import Any

from flask import request

from shared.errors import ValidationFailed

NUL = "Must not contain NUL characters."
NOT_UNICODE = "Must be valid Unicode text."


def _problem(text: str) -> str | None:
    if "\x00" in text:
        return NUL
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return NOT_UNICODE
    return None


def _walk(value: Any, path: str, problems: dict[str, list[str]]) -> None:
    if isinstance(value, str):
        message = _problem(value)
        if message:
            problems.setdefault(path or "_body", []).append(message)
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            message = _problem(str(key))
            if message:
                problems.setdefault(path or "_body", []).append(message)
                continue
            _walk(item, child, problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}.{index}" if path else str(index), problems)


def reject_unstorable_text() -> None:
    """A blueprint ``before_request`` hook (runs after authentication)."""
    problems: dict[str, list[str]] = {}
    for key, values in request.args.lists():
        if _problem(key):
            problems.setdefault("_query", []).append(_problem(key))
            continue
        for value in values:
            message = _problem(value)
            if message:
                problems.setdefault(key, []).append(message)
    if request.method in ("POST", "PUT", "PATCH") and request.is_json:
        _walk(request.get_json(silent=True), "", problems)
    if problems:
        raise ValidationFailed(problems)
