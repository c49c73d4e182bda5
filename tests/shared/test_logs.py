"""JSON log lines: every field in one object, and no secret in any of them."""
from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from shared.logs import (NOISY, NOISY_FOR_PEOPLE, REDACTED, JsonFormatter, LineWriter, TextFormatter,
                         dict_config, log_format, redact)

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
        "def looked_up(*args, **kwargs):\n"
        "    raise SystemExit('the caller was looked up')\n"
        "logging.Logger.findCaller = looked_up\n"
        "logging.getLogger('clientloop.access').info('request', extra={'status': 201})\n")
    line = json.loads(_configured_process(program).strip().splitlines()[-1])
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


# -- LineWriter: logging threads format, a thread of the process writes -------------------------

class _GatedStream(io.StringIO):
    """A stream whose writes wait for ``gate`` (in the process that made it), noting which
    threads wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.writers: set[str] = set()
        self.owner = os.getpid()

    def write(self, text: str) -> int:
        if os.getpid() == self.owner:
            self.writers.add(threading.current_thread().name)
            assert self.gate.wait(10), "the test never opened the gate"
        return super().write(text)


def _writer(stream, **settings) -> tuple[logging.Logger, LineWriter]:
    handler = LineWriter(stream, **settings)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.Logger(f"line-writer-test-{id(handler)}")
    logger.addHandler(handler)
    return logger, handler


def test_the_configured_handler_is_the_line_writer():
    config = dict_config("INFO")
    assert config["handlers"]["stderr"]["class"] == "shared.logs.LineWriter"


def test_a_logging_thread_does_not_wait_for_the_stream():
    """StreamHandler writes in the logging thread: with the stream stuck, the log call would
    not return."""
    stream = _GatedStream()
    logger, handler = _writer(stream)
    try:
        done = threading.Event()
        thread = threading.Thread(target=lambda: ([logger.info("line %d", n) for n in range(50)],
                                                  done.set()), name="request-thread")
        thread.start()
        assert done.wait(3), "a log call waited for the stream"
        assert "request-thread" not in stream.writers
    finally:
        stream.gate.set()
        handler.close()
    assert stream.getvalue().splitlines() == [f"line {n}" for n in range(50)]


def test_every_line_of_every_thread_is_written_once_in_its_order_without_a_flush():
    stream = io.StringIO()
    logger, handler = _writer(stream)

    def log(thread: int) -> None:
        for n in range(300):
            logger.info("t%d %d", thread, n)

    threads = [threading.Thread(target=log, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deadline = time.monotonic() + 5
    while len(stream.getvalue().splitlines()) < 2400 and time.monotonic() < deadline:
        time.sleep(0.01)   # the writer thread's, not a flush
    lines = stream.getvalue().splitlines()
    handler.close()
    assert len(lines) == 2400
    for number in range(8):
        assert [line for line in lines if line.startswith(f"t{number} ")] == \
            [f"t{number} {n}" for n in range(300)]


def test_a_full_queue_holds_the_logging_thread_back_and_loses_nothing():
    stream = _GatedStream()
    logger, handler = _writer(stream, max_queued=5)
    done = threading.Event()
    thread = threading.Thread(target=lambda: ([logger.info("line %d", n) for n in range(20)],
                                              done.set()))
    thread.start()
    try:
        assert not done.wait(0.5), "the queue grew past its bound while the stream was stuck"
    finally:
        stream.gate.set()
    assert done.wait(5)
    handler.close()
    assert stream.getvalue().splitlines() == [f"line {n}" for n in range(20)]


def test_lines_logged_just_before_the_process_exits_are_written():
    script = (
        "import threading\n"
        "log = logging.getLogger('clientloop.test')\n"
        "def run(t):\n"
        "    for n in range(500):\n"
        "        log.info('line', extra={'writer': t, 'n': n})\n"
        "threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n")
    lines = [json.loads(line) for line in _configured_process(script).splitlines()]
    assert sorted((line["writer"], line["n"]) for line in lines) == \
        [(t, n) for t in range(4) for n in range(500)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_writes_its_own_lines_and_not_its_parents_queued_ones(tmp_path):
    """A gunicorn worker is forked from a master that logged: the lines queued in the master
    at the fork are the master's to write, and its writer may be mid-write (holding its lock)."""
    path = tmp_path / "log"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    class GatedFile(_GatedStream):
        def write(self, text: str) -> int:
            if os.getpid() == self.owner:
                self.gate.wait(10)
            return os.write(descriptor, text.encode())

    stream = GatedFile()
    logger, handler = _writer(stream)
    logger.info("first")               # the writer thread takes it and waits at the gate
    deadline = time.monotonic() + 5
    while handler._lines and time.monotonic() < deadline:
        time.sleep(0.01)
    logger.info("queued at the fork")  # stays queued behind the stuck write
    child = os.fork()
    if child == 0:   # pragma: no cover - the child's exit status is the assertion
        try:
            logger.info("in the child")
            handler.flush()
        finally:
            os._exit(0)
    try:
        deadline = time.monotonic() + 10
        while (found := os.waitpid(child, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        if found[0] == 0:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            pytest.fail("the child hung on a lock its parent's writer held at the fork")
        status = found[1]
    finally:
        stream.gate.set()
    handler.close()
    os.close(descriptor)
    assert os.waitstatus_to_exitcode(status) == 0
    assert sorted(path.read_text().splitlines()) == ["first", "in the child", "queued at the fork"]


def _configured_process(program: str) -> str:
    """The stderr of a Python process that configured logging as the services do, then ran
    ``program`` (``logging`` imported) and exited normally."""
    prelude = ("import logging, logging.config\n"
               "from shared.logs import dict_config\n"
               "logging.config.dictConfig(dict_config('INFO'))\n")
    done = subprocess.run([sys.executable, "-c", prelude + program], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stderr
