"""What every ``/api/v1`` request's input must be before any view sees it.

Runs after authentication (a caller without a valid token learns nothing about their input):

* A write (``POST``, ``PUT``, ``PATCH``) carries a JSON body or none. Anything else is a 400,
  and so is JSON that does not parse: syntax errors, ``NaN``/``Infinity``, numbers Python
  refuses to convert (over 4300 digits) and nesting deeper than :data:`MAX_DEPTH`. The body is
  read here, so one over ``CLIENTLOOP_MAX_BODY_BYTES`` is a 413 even where the view ignores it.
* Text must be storable on every database: a NUL character (PostgreSQL refuses it) or an
  unpaired UTF-16 surrogate (not Unicode text; it cannot be encoded as UTF-8) in a JSON string
  or key or in a query parameter is a 422 naming the field by its dotted path.
"""
from __future__ import annotations

import json
import re
from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest

from shared.errors import ValidationFailed
from shared.web.security import API_PREFIX

MAX_DEPTH = 32
WRITE_METHODS = ("POST", "PUT", "PATCH")
TEXT_MESSAGE = "Must not contain NUL characters or unpaired surrogates."
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_api_input() -> None:
    """``before_request`` hook, registered after :func:`shared.web.security.authenticate`."""
    if request.url_rule is None or not request.path.startswith(API_PREFIX):
        return
    errors: dict[str, list[str]] = {}
    for name, value in request.args.items(multi=True):
        if _UNSTORABLE.search(name) or _UNSTORABLE.search(value):
            errors.setdefault(_printable(name), [TEXT_MESSAGE])
    if request.method in WRITE_METHODS:
        raw = request.get_data(cache=True)  # RequestEntityTooLarge (413) over the limit
        if raw.strip():
            if not request.is_json:
                raise BadRequest("The request body must be JSON (Content-Type: application/json).")
            find_unstorable_text(parse_json(raw), errors)
    if errors:
        raise ValidationFailed(errors, detail="Text must not contain NUL characters or unpaired surrogates.")


def parse_json(raw: bytes) -> Any:
    """A request body parsed as the API parses it (``BadRequest`` when it is not JSON, holds
    ``NaN``/``Infinity``, or nests too deep)."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise BadRequest(f"The JSON body is nested more than {MAX_DEPTH} levels deep.") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, int digit limit, NaN
        raise BadRequest("The request body is not valid JSON.") from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def may_hold_unstorable(raw: bytes) -> bool:
    """Whether a body that :func:`parse_json` parsed may hold what :func:`find_unstorable_text`
    looks for; ``False`` lets a caller skip the walk. Decoded as strict UTF-8, the text holds
    no surrogate, and JSON allows no raw control character inside a string: a NUL or an unpaired
    surrogate can only come from a ``\\u`` escape. Nesting is at most the number of ``{`` and
    ``[`` in the text (those inside strings included)."""
    return b"\\u" in raw or raw.count(b"{") + raw.count(b"[") > MAX_DEPTH


def find_unstorable_text(body: Any, errors: dict[str, list[str]]) -> None:
    """Walk the parsed body (without recursion), recording the path of every bad string."""
    stack: list[tuple[Any, str, int]] = [(body, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(f"The JSON body is nested more than {MAX_DEPTH} levels deep.")
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                errors.setdefault(path or "_body", [TEXT_MESSAGE])
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{_printable(key)}" if path else _printable(key)
                if _UNSTORABLE.search(key):
                    errors.setdefault(child, [TEXT_MESSAGE])
                stack.append((item, child, depth + 1))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((item, f"{path}.{index}" if path else str(index), depth + 1))


def _printable(text: str) -> str:
    """A field name that can be shown in a problem (NUL and surrogates escaped)."""
    return text.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode("utf-8")
