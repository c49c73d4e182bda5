"""JSON log lines: every field in one object, and no secret in any of them."""
from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.logs import (NOISY, NOISY_FOR_PEOPLE, REDACTED, JsonFormatter, TextFormatter, dict_config,
                         log_format, redact)

ROOT = Path(__file__).resolve().parents[2]

TOKEN = "Zq3vT9kLmN0pQrStUvWxYz_-AbCdEf12"


@pytest.mark.parametrize("text, kept", [
    (f"/s/{TOKEN}", "/s/"),
    (f"/survey/s/{TOKEN}/thanks", "/thanks"),
    (f"GET http://gw/survey/s/{TOKEN}?x=1 HTTP/1.1", "?x=1 HTTP/1.1"),
    (f"/s/?token={TOKEN}&page=2", "&page=2"),
    (f"form_token={TOKEN}", "form_token="),
    (f'{{"token": "{TOKEN}", "answers": {{}}}}', '"answers"'),
    (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer "),
])
def test_link_tokens_and_credentials_are_redacted_wherever_they_appear(text, kept):
    redacted = redact(text)
    assert TOKEN not in redacted
    assert REDACTED in redacted and kept in redacted


def test_ordinary_paths_and_ids_are_kept():
    for text in ("/api/v1/surveys/6f1c/invitations", "/static/survey/survey.css",
                 "token_id=7b2e", "link tokens are hashed"):
        assert redact(text) == text


def _format(record_args: dict, exc_info=None) -> dict:
    record = logging.LogRecord("clientloop.test", logging.ERROR, __file__, 1,
                               record_args.pop("msg"), record_args.pop("args", None), exc_info)
    record.__dict__.update(record_args)
    return json.loads(JsonFormatter().format(record))


def test_the_formatter_redacts_the_message_every_field_and_the_traceback():
    try:
        raise RuntimeError(f"could not open /s/{TOKEN}")
    except RuntimeError:
        exc_info = sys.exc_info()
    line = _format({"msg": "Error handling request %s", "args": (f"/survey/s/{TOKEN}",),
                    "path": f"/s/{TOKEN}/thanks", "token": TOKEN, "token_id": "7b2e",
                    "details": {"url": f"/s/{TOKEN}", "items": [f"token={TOKEN}"]}},
                   exc_info=exc_info)
    assert TOKEN not in json.dumps(line)
    assert line["message"] == f"Error handling request /survey/s/{REDACTED}"
    assert line["path"] == f"/s/{REDACTED}/thanks" and line["token"] == REDACTED
    assert line["token_id"] == "7b2e"
    assert "RuntimeError" in line["exception"]


@pytest.fixture
def restored_logging():
    """dictConfig changes process-wide loggers; put them back for the tests that follow."""
    names = ("", "gunicorn.error", "gunicorn.access", *NOISY, *NOISY_FOR_PEOPLE)
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level,
                    logging.getLogger(name).propagate) for name in names}
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def test_the_gunicorn_configuration_sends_its_own_messages_through_the_json_handler(restored_logging):
    logging.config.dictConfig(dict_config("INFO"))
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)
    logging.getLogger("gunicorn.error").info("Booting worker with pid: %s", 42)
    logging.getLogger("gunicorn.access").info("not written: the app writes access lines")
    logging.getLogger("kombu").info("not written: chatty library")
    logging.getLogger().handlers[0].setStream(sys.stderr)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("gunicorn.error", "Booting worker with pid: 42")]


def test_an_unknown_level_is_refused_with_its_name():
    with pytest.raises(ValueError, match="LOUD"):
        dict_config("loud")


# -- short text lines, for a person at a terminal -------------------------------------------------
def _text(name: str, level: int, msg: str, args=None, exc_info=None, **fields) -> str:
    record = logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)
    record.__dict__.update(fields)
    return TextFormatter().format(record)


def test_text_lines_are_short_redacted_and_not_json():
    line = _text("clientloop.relay", logging.INFO, "relay started", service="registry")
    assert re.fullmatch(r"\d\d:\d\d:\d\d registry: relay started", line), line
    warning = _text("clientloop.web", logging.WARNING, "could not open /s/%s", (TOKEN,),
                    token=TOKEN, attempt=2, note=None)
    assert re.fullmatch(r"\d\d:\d\d:\d\d", warning[:8]), warning
    assert warning[8:] == f" WARNING could not open /s/{REDACTED}  token={REDACTED} attempt=2"
    assert TOKEN not in warning and f"/s/{REDACTED}" in warning and f"token={REDACTED}" in warning
    try:
        raise RuntimeError(f"form_token={TOKEN}")
    except RuntimeError:
        failed = _text("clientloop.web", logging.ERROR, "unexpected error", exc_info=sys.exc_info())
    assert TOKEN not in failed and "Traceback" in failed and "RuntimeError" in failed
    for text in (line, warning, failed):
        with pytest.raises(ValueError):
            json.loads(text.splitlines()[0])


def test_a_text_access_line_reads_like_a_request():
    line = _text("clientloop.access", logging.INFO, "request", method="POST", path=f"/s/{TOKEN}",
                 status=303, duration_ms=41.2, by=None, request_id="7948a1f0")
    assert line.endswith(f" POST /s/{REDACTED} 303 41.2 ms") and "7948a1f0" not in line, line
    staff = _text("clientloop.access", logging.INFO, "request", method="GET", path="/api/v1/clients",
                  status=200, duration_ms=3.1, by="Wang Fang", request_id="x")
    assert staff.endswith(" GET /api/v1/clients 200 3.1 ms by Wang Fang"), staff


@pytest.mark.parametrize("env, terminal, chosen", [
    ({}, False, "json"), ({}, True, "text"),
    ({"CLIENTLOOP_LOG_FORMAT": "json"}, True, "json"), ({"CLIENTLOOP_LOG_FORMAT": "TEXT"}, False, "text"),
])
def test_the_format_is_text_on_a_terminal_unless_the_variable_says_otherwise(env, terminal, chosen):
    assert log_format(env, terminal=terminal) == chosen


def test_an_unknown_format_is_refused_with_its_name():
    with pytest.raises(SystemExit, match="CLIENTLOOP_LOG_FORMAT must be json or text, got 'yaml'"):
        log_format({"CLIENTLOOP_LOG_FORMAT": "yaml"})


def test_text_lines_leave_out_each_migration_step_and_gunicorns_start_up(restored_logging):
    logging.config.dictConfig(dict_config("INFO", "text"))
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("gunicorn.error").info("Booting worker with pid: %s", 42)
    logging.getLogger("gunicorn.error").error("Worker (pid:%s) was sent SIGKILL!", 42)
    logging.getLogger("clientloop.relay").info("relay started", extra={"service": "survey"})
    logging.getLogger().handlers[0].setStream(sys.stderr)
    lines = [line[9:] for line in stream.getvalue().splitlines()]
    assert lines == ["ERROR Worker (pid:42) was sent SIGKILL!", "survey: relay started"]


@pytest.mark.parametrize("variable, formatter", [(None, "JsonFormatter"), ("text", "TextFormatter"),
                                                 ("json", "JsonFormatter")])
def test_the_web_server_follows_the_chosen_format(variable, formatter):
    """gunicorn's configuration (``up`` passes its choice to its web server in the variable)."""
    env = {key: value for key, value in os.environ.items() if key != "CLIENTLOOP_LOG_FORMAT"}
    if variable:
        env["CLIENTLOOP_LOG_FORMAT"] = variable
    shown = subprocess.run([sys.executable, "-c", "import shared.gunicorn_conf as c; "
                            "print([f['()'].__name__ for f in c.logconfig_dict['formatters'].values()])"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert shown.stdout.strip() == f"['{formatter}']", shown.stderr


def test_a_configured_process_logs_without_looking_up_the_caller():
    """The lines name no file, line, thread or process, so logging never walks the stack for
    them (a web worker logs once per request)."""
    program = (
        "import json, logging, logging.config, sys\n"
        "from shared.logs import dict_config\n"
        "logging.config.dictConfig(dict_config('INFO'))\n"
        "def looked_up(*args, **kwargs):\n"
        "    raise SystemExit('the caller was looked up')\n"
        "logging.Logger.findCaller = looked_up\n"
        "logging.getLogger('clientloop.access').info('request', extra={'status': 201})\n")
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert (line["logger"], line["message"], line["status"]) == ("clientloop.access", "request", 201)
    assert not {"thread", "process", "lineno"} & set(line)


@pytest.mark.parametrize("created", [1_795_000_000.0, 1_795_000_000.987, 1_795_000_001.004])
def test_each_line_carries_its_own_utc_time_to_the_millisecond(created):
    formatter = JsonFormatter()
    line = {}
    for moment in (created - 1.5, created):   # a line of another second first
        record = logging.LogRecord("clientloop.test", logging.INFO, __file__, 1, "m", None, None)
        record.created, record.msecs = moment, (moment - int(moment)) * 1000
        line = json.loads(formatter.format(record))
    from datetime import datetime, timezone
    expected = datetime.fromtimestamp(created, timezone.utc)
    assert line["time"] == expected.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"
