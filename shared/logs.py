"""Structured JSON logs, one object per line, with the request id when there is one.

Every process writes them: ``relay``, ``consume`` and ``up`` call ``configure``; gunicorn
(``serve`` and the web server of ``up``) takes ``dict_config`` as its ``logconfig_dict``, so its
own messages and the app's access lines are JSON too.

A person at a terminal gets short lines instead (``TextFormatter``: ``14:03:07 registry: relay
started``): ``up`` chooses them when its stderr is a terminal and hands the choice to its web
server through ``CLIENTLOOP_LOG_FORMAT``, which also forces either format for any command
(``log_format``). JSON stays the default everywhere else.

Secrets never reach a line: a survey link's token (``/s/<token>``), ``…token=`` or
``"token": …`` values and bearer credentials are replaced by ``[redacted]`` in the message, in
every field and in tracebacks (``redact``).
"""
from __future__ import annotations

import collections
import functools
import json
import logging
import logging.config
import os
import re
import threading
import time
import weakref
from typing import Any, Mapping

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
#: Every string one of ``_SECRETS`` could change contains one of these.
_MAY_HOLD_SECRET = re.compile(r"(?i)/s/|token|bearer")
#: Fields whose whole value is a secret, whatever it looks like.
_SECRET_FIELDS = re.compile(r"(?i)(\w*_)?(token|secret|password|authorization|cookie)")
#: Libraries that are chatty at INFO; they log at WARNING and above only.
NOISY = ("amqp", "kombu", "werkzeug")
#: Also quiet in the short text lines (with gunicorn's start-up chatter): each migration step,
#: and each follow-up survey skipped for a client who already holds one (one line per resolved
#: complaint: a flood on a terminal while the demo's year of history is applied). The JSON
#: lines keep them at INFO.
NOISY_FOR_PEOPLE = ("alembic", "clientloop.survey.consumers")
FORMATS = ("json", "text")
FORMAT_VARIABLE = "CLIENTLOOP_LOG_FORMAT"
ACCESS_LOGGER = "clientloop.access"


def redact(value: Any) -> Any:
    """``value`` with link tokens and credentials replaced; strings inside lists and dicts too."""
    if isinstance(value, str):
        if not _MAY_HOLD_SECRET.search(value):   # most strings: one scan instead of three
            return value
        for pattern, replacement in _SECRETS:
            value = pattern.sub(replacement, value)
        return value
    if isinstance(value, dict):
        return {key: REDACTED if isinstance(key, str) and _secret_field(key) and item
                else redact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    return value


@functools.lru_cache(maxsize=1024)
def _secret_field(name: str) -> bool:
    return _SECRET_FIELDS.fullmatch(name) is not None


class JsonFormatter(logging.Formatter):
    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _utc_second(int(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if "request_id" not in entry:
            request_id = _flask_request_id()
            if request_id is not _NO_REQUEST:
                entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(redact(entry), ensure_ascii=False, default=lambda v: redact(str(v)))


@functools.lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    """``2026-12-01T07:48:23`` (UTC) for a Unix second: one formatting per second, not per line."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


_NO_REQUEST = object()


def _flask_request_id() -> Any:
    """The request id of the Flask request being handled, or ``_NO_REQUEST`` outside one (or
    without Flask)."""
    try:
        from flask import g, has_request_context
    except ImportError:  # pragma: no cover
        return _NO_REQUEST
    return g.get("request_id") if has_request_context() else _NO_REQUEST


class TextFormatter(logging.Formatter):
    """One short line for a person: local time, level when it is a warning or worse, the
    service, the message and its other fields; an access line reads ``GET /path 200 3.1 ms``.
    Redacted like the JSON lines."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {key: value for key, value in record.__dict__.items()
                  if key not in _STANDARD and not key.startswith("_")}
        service = fields.pop("service", None)
        message = _access_text(fields) if record.name == ACCESS_LOGGER else record.getMessage()
        line = time.strftime("%H:%M:%S", time.localtime(record.created))
        if record.levelno >= logging.WARNING:
            line += f" {record.levelname}"
        line += f" {service}: {message}" if service else f" {message}"
        extra = " ".join(f"{key}={value}" for key, value in redact(fields).items() if value is not None)
        text = redact(f"{line}  {extra}" if extra else line)
        if record.exc_info:
            text += "\n" + redact(self.formatException(record.exc_info))
        return text


def _access_text(fields: dict[str, Any]) -> str:
    """``GET /registry/api/v1/clients 200 3.1 ms by Wang Fang``; the fields it used removed."""
    fields.pop("request_id", None)
    method, status = fields.pop("method", ""), fields.pop("status", "")
    path = str(fields.pop("path", None) or "")
    duration, by = fields.pop("duration_ms", None), fields.pop("by", None)
    try:
        from flask import has_request_context, request
        if has_request_context() and not path.startswith(request.script_root + "/"):
            path = request.script_root + path   # the service's prefix, as the visitor wrote it
    except ImportError:  # pragma: no cover
        pass
    text = f"{method} {path} {status}"
    if duration is not None:
        text += f" {duration} ms"
    return text + (f" by {by}" if by else "")


def log_format(env: Mapping[str, str] | None = None, *, terminal: bool = False) -> str:
    """``CLIENTLOOP_LOG_FORMAT`` (``json`` or ``text``) when set; else text for a terminal
    (``up`` asks for that when its stderr is one), JSON otherwise."""
    raw = ((os.environ if env is None else env).get(FORMAT_VARIABLE) or "").strip().lower()
    if raw and raw not in FORMATS:
        raise SystemExit(f"{FORMAT_VARIABLE} must be json or text, got {raw!r}")
    return raw or ("text" if terminal else "json")


def dict_config(level: str = "INFO", fmt: str = "json") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` (and gunicorn ``logconfig_dict``): JSON lines on stderr,
    or short text lines (``fmt="text"``, which also quiets migrations and gunicorn's start-up).

    gunicorn's error logger hands its messages to the root handler; its own access log stays
    off, since every app writes one access line per request itself (``clientloop.access``).
    Building it also turns off the caller, thread and process lookups of every log call in this
    process (``_skip_unused_record_fields``): both ways of configuring logging pass here.
    """
    level = level.upper()
    number = logging.getLevelName(level)
    if not isinstance(number, int):
        raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING or ERROR")
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; use json or text")
    quiet = logging.getLevelName(max(logging.WARNING, number))
    _skip_unused_record_fields()
    for_people = fmt == "text"
    start_up = level if number < logging.INFO else quiet   # in text lines, unless debugging
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {fmt: {"()": TextFormatter if for_people else JsonFormatter}},
        "handlers": {"stderr": {"class": "shared.logs.LineWriter", "formatter": fmt,
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": start_up if for_people else level, "handlers": [],
                               "propagate": True},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
            **{name: {"level": quiet} for name in NOISY},
            **({name: {"level": start_up} for name in NOISY_FOR_PEOPLE} if for_people else {}),
        },
    }


class LineWriter(logging.StreamHandler):
    """A stream handler whose logging threads only format: the writing is a thread's own.

    ``logging.StreamHandler`` writes each line to the stream from the thread that logged it,
    holding the handler's lock through the ``write`` — a system call that gives up the
    interpreter lock, which the thread must then wait to take back (up to the interpreter's
    switch interval, 5 ms, while other threads run Python) with the handler's lock still held,
    so every other thread that logs meanwhile queues behind it. A web worker's request threads
    each log an access line, so under load they queued there.

    Here the logging thread formats the line (redaction and the request id need its context)
    and appends it to a queue, taking no lock; a daemon thread of the process writes what has
    queued up, in order, several lines per ``write`` under load. :meth:`flush` writes what is
    queued from the calling thread, so ``logging.shutdown`` at exit (and ``setStream``, which
    flushes before it swaps) leaves nothing behind; a queue beyond ``max_queued`` lines is written by the logging thread
    itself, so a stream that stops taking lines holds up the loggers instead of filling the
    memory. A process forked with lines queued leaves them to its parent: the child starts with
    an empty queue and a writer thread of its own at its first line.
    """

    def __init__(self, stream=None, max_queued: int = 10_000, interval_s: float = 0.005) -> None:
        super().__init__(stream)
        self.max_queued = max_queued
        self.interval_s = interval_s
        self._lines: collections.deque[str] = collections.deque()
        self._queued = threading.Event()
        self._writing = threading.Lock()     # the writer thread and flush, never a logger
        self._writer: threading.Thread | None = None   # this process's (reset in a forked child)
        _line_writers.add(self)

    def handle(self, record: logging.LogRecord) -> bool:
        """``Handler.handle`` without the handler's lock around ``emit``: appending to the queue
        is safe from any thread."""
        passed = self.filter(record)
        if isinstance(passed, logging.LogRecord):
            record = passed
        if passed:
            self.emit(record)
        return bool(passed)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:  # noqa: BLE001 - as StreamHandler: reported, never raised
            self.handleError(record)
            return
        self._lines.append(line)
        if len(self._lines) > self.max_queued:
            self.flush()
            return
        if self._writer is None:
            self._start_writer()
        if not self._queued.is_set():
            self._queued.set()

    def flush(self) -> None:
        """Write every line queued so far (from this thread), then flush the stream."""
        with self._writing:
            self._write_queued()

    def close(self) -> None:
        self.flush()
        _line_writers.discard(self)
        super().close()

    def _write_queued(self) -> None:
        lines = self._lines   # loggers only append; only the holder of ``_writing`` takes
        taken = [lines.popleft() for _ in range(len(lines))]
        stream = self.stream
        if stream is None:
            return
        try:
            if taken:
                stream.write("".join(taken))
            if hasattr(stream, "flush"):
                stream.flush()
        except Exception:  # noqa: BLE001 - a stream that fails loses these lines, as StreamHandler's would
            pass

    def _start_writer(self) -> None:
        with _writer_start:
            if self._writer is None:
                writer = threading.Thread(target=self._write_forever, daemon=True,
                                          name="log-writer")
                writer.start()
                self._writer = writer

    def _write_forever(self) -> None:
        while True:
            self._queued.wait()
            while True:
                self._queued.clear()
                with self._writing:
                    self._write_queued()
                time.sleep(self.interval_s)   # the lines logged meanwhile share the next write
                if not self._lines:
                    break

    def _forked(self) -> None:
        """In a forked child: the parent writes its own queued lines; none of its threads is
        here, and its locks may have been held at the fork."""
        self._lines.clear()
        self._queued = threading.Event()
        self._writing = threading.Lock()
        self._writer = None


_line_writers: "weakref.WeakSet[LineWriter]" = weakref.WeakSet()
_writer_start = threading.Lock()


def _after_fork_in_child() -> None:
    global _writer_start
    _writer_start = threading.Lock()
    for writer in list(_line_writers):
        writer._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def configure(level: str = "INFO", fmt: str = "json") -> None:
    logging.config.dictConfig(dict_config(level, fmt))


def _skip_unused_record_fields() -> None:
    """No line these formatters write names the file, line, thread or process it was logged
    from: the switches of the logging HOWTO's "Optimization" section spare every log call
    walking the stack for them (a web worker writes an access line per request)."""
    logging._srcfile = None   # the documented switch: no caller lookup
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
