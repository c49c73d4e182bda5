"""Structured JSON logs, one object per line, with the request id when there is one.

Every process writes them: ``relay``, ``consume`` and ``up`` call ``configure``; gunicorn
(``serve`` and the web server of ``up``) takes ``dict_config`` as its ``logconfig_dict``, so its
own messages and the app's access lines are JSON too.

Secrets never reach a line: a survey link's token (``/s/<token>``), ``…token=`` or
``"token": …`` values and bearer credentials are replaced by ``[redacted]`` in the message, in
every field and in tracebacks (``redact``).
"""
from __future__ import annotations

import json
import logging
import logging.config
import re
import time
from typing import Any

_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}
REDACTED = "[redacted]"
_SECRETS = (
    # a survey link: /s/<token>, alone or under a prefix (/survey/s/<token>/thanks)
    (re.compile(r"(/s/)[^/?#\s\"'<>]+"), r"\1" + REDACTED),
    # token=…, form_token=…, "token": "…" (query strings, form bodies, reprs)
    (re.compile(r"""(?i)(\w*token["']?\s*[=:]\s*["']?)[^&\s"',;}]+"""), r"\1" + REDACTED),
    # Authorization: Bearer …
    (re.compile(r"(?i)(\bbearer\s+)[\w.~+/=-]+"), r"\1" + REDACTED),
)
#: Fields whose whole value is a secret, whatever it looks like.
_SECRET_FIELDS = re.compile(r"(?i)(\w*_)?(token|secret|password|authorization|cookie)")
#: Libraries that are chatty at INFO; they log at WARNING and above only.
NOISY = ("amqp", "kombu", "werkzeug")


def redact(value: Any) -> Any:
    """``value`` with link tokens and credentials replaced; strings inside lists and dicts too."""
    if isinstance(value, str):
        for pattern, replacement in _SECRETS:
            value = pattern.sub(replacement, value)
        return value
    if isinstance(value, dict):
        return {key: REDACTED if isinstance(key, str) and _SECRET_FIELDS.fullmatch(key) and item
                else redact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    return value


class JsonFormatter(logging.Formatter):
    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        try:
            from flask import g, has_request_context
            if has_request_context() and "request_id" not in entry:
                entry["request_id"] = g.get("request_id")
        except ImportError:  # pragma: no cover
            pass
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(redact(entry), ensure_ascii=False, default=lambda v: redact(str(v)))


def dict_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` (and gunicorn ``logconfig_dict``): JSON lines on stderr.

    gunicorn's error logger hands its messages to the root handler; its own access log stays
    off, since every app writes one access line per request itself (``clientloop.access``).
    """
    level = level.upper()
    number = logging.getLevelName(level)
    if not isinstance(number, int):
        raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING or ERROR")
    quiet = logging.getLevelName(max(logging.WARNING, number))
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
            **{name: {"level": quiet} for name in NOISY},
        },
    }


def configure(level: str = "INFO") -> None:
    logging.config.dictConfig(dict_config(level))
