"""JSON log lines: every field in one object, and no secret in any of them."""
from __future__ import annotations

import io
import json
import logging
import logging.config
import sys

import pytest

from shared.logs import NOISY, REDACTED, JsonFormatter, dict_config, redact

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
    names = ("", "gunicorn.error", "gunicorn.access", *NOISY)
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
