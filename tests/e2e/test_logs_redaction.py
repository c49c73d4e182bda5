"""Logs of real processes: JSON access lines under gunicorn, and no survey link token anywhere.

The survey service runs as operators run it (``clientloop serve`` under gunicorn, its relay and
consumer), behind the shipped nginx gateway, on the embedded SQLite database and filesystem
bus. A client opens a link, submits the form, another answers through the JSON endpoint; then
every log line of every process, nginx's access and error logs, and ``/metrics`` are searched
for the tokens.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid

import pytest
import requests

from services.survey.app import build_context
from shared.config import Settings
from tests.conftest import TEST_SECRET, auth, make_token
from tests.e2e.harness import ProcessSuite, eventually, free_port
from tests.support.gateway import Gateway, need_nginx
from tests.survey.survey_support import learn_client, survey_fields, token_of

FORM_TOKEN = re.compile(r'name="_form" value="([^"]+)"')


@pytest.fixture
def suite(tmp_path):
    suite = ProcessSuite(tmp_path, broker_url="", database_urls={}, secret_key=TEST_SECRET,
                         extra_env={"CLIENTLOOP_LOG_LEVEL": "INFO", "CLIENTLOOP_PROXY_HOPS": "1"})
    yield suite
    suite.stop()


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_serve_writes_one_json_access_line_per_request(suite, tmp_path):
    url = suite.start("survey", relay=False, consume=False)
    staff = make_token(Settings.from_env({}, data_dir=tmp_path / "data", secret_key=TEST_SECRET))
    sent = {}
    for path, headers, status in (("/healthz", {}, 200),
                                  ("/api/v1/surveys", auth(staff), 200),
                                  ("/api/v1/surveys", {}, 401),
                                  ("/nowhere", {}, 404)):
        request_id = f"trace-{uuid.uuid4().hex[:8]}"
        answer = requests.get(f"{url}{path}", headers={**headers, "X-Request-ID": request_id},
                              timeout=10)
        assert answer.status_code == status and answer.headers["X-Request-ID"] == request_id
        sent[request_id] = (path, status)
    suite.stop()

    lines = _lines((tmp_path / "survey-web.log").read_text())  # every line is JSON
    access = [line for line in lines if line["logger"] == "clientloop.access"
              and line["request_id"] in sent]
    assert sorted(line["request_id"] for line in access) == sorted(sent), access
    for line in access:
        assert (line["path"], line["status"]) == sent[line["request_id"]]
        assert line["method"] == "GET" and line["duration_ms"] >= 0
        assert line["by"] == ("staff-user" if line["status"] == 200 and line["path"] != "/healthz"
                              else None)
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"]
               for line in lines)


def test_up_logs_json_lines_with_one_access_line_per_request(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CLIENTLOOP_") or key == "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS"}
    stderr = tmp_path / "up.err"
    with stderr.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "up", "--port", str(port),
             "--data-dir", str(tmp_path / "var")],
            env={**env, "CLIENTLOOP_LOG_LEVEL": "INFO"}, stdout=subprocess.DEVNULL, stderr=errors)
    url = f"http://127.0.0.1:{port}"
    sent = {}
    try:
        def healthy():
            try:
                return requests.get(f"{url}/registry/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return process.poll() is not None
        assert eventually(healthy, timeout=60, interval=0.2) and process.poll() is None, \
            stderr.read_text()
        for path, status in (("/", 200), ("/survey/healthz", 200), ("/nowhere", 404),
                             (f"/survey/s/{'x' * 32}", 404)):
            request_id = f"trace-{uuid.uuid4().hex[:8]}"
            answer = requests.get(f"{url}{path}", headers={"X-Request-ID": request_id}, timeout=10)
            assert answer.status_code == status, (path, answer.text)
            sent[request_id] = status
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
    lines = _lines(stderr.read_text())  # every line is JSON
    access = [line for line in lines if line["logger"] == "clientloop.access"
              and line.get("request_id") in sent]
    assert sorted(line["request_id"] for line in access) == sorted(sent), access
    assert all(line["status"] == sent[line["request_id"]] for line in access)
    assert "x" * 32 not in stderr.read_text()
    assert any(line["logger"] == "gunicorn.error" for line in lines)


def _form_answers(page: str) -> dict:
    return {"_form": FORM_TOKEN.search(page).group(1), "recommend": "9", "satisfied": "4"}


def test_no_log_line_and_no_metric_holds_a_link_token(suite, tmp_path):
    need_nginx()
    survey = suite.start("survey")
    gateway = Gateway(tmp_path / "gateway", {"survey": [survey.removeprefix("http://")]})
    try:
        base = gateway.start()
        settings = Settings.from_env({}, data_dir=tmp_path / "data", secret_key=TEST_SECRET)
        staff = auth(make_token(settings))
        ctx = build_context(settings)
        try:
            client_ids = [learn_client(ctx, language="en") for _ in range(2)]
        finally:
            ctx.extras["delivery_worker"].stop()
            ctx.database.dispose()
        api = f"{base}/survey/api/v1"
        created = requests.post(f"{api}/surveys", headers=staff, json=survey_fields(), timeout=10)
        assert created.status_code == 201, created.text
        survey_id = created.json()["id"]
        assert requests.post(f"{api}/surveys/{survey_id}/publish", headers=staff,
                             timeout=10).status_code == 200
        tokens = []
        for client_id in client_ids:
            invited = requests.post(f"{api}/surveys/{survey_id}/invitations", headers=staff,
                                    json={"client_id": client_id}, timeout=10)
            assert invited.status_code == 201, invited.text
            link = invited.json()["items"][0]["url"]
            assert link.startswith(f"{base}/survey/s/")
            tokens.append(token_of(link))

        # A browser opens the first link and submits the form (the page is its own referer).
        link = f"{base}/survey/s/{tokens[0]}"
        page = requests.get(link, timeout=10)
        assert page.status_code == 200
        done = requests.post(link, data=_form_answers(page.text), headers={"Referer": link},
                             timeout=10)
        assert done.status_code == 200 and done.url == f"{link}/thanks", done.text
        # Another app answers the second link through the JSON endpoint.
        answered = requests.post(f"{api}/public/responses", timeout=10, json={
            "token": tokens[1], "answers": {"recommend": 7, "satisfied": 3}})
        assert answered.status_code == 201, answered.text
        # Paths no route matches, a token in a query string, and an upstream that is down.
        assert requests.get(f"{link}/nowhere?token={tokens[0]}", timeout=10).status_code == 404
        assert requests.get(f"{base}/complaints/s/{tokens[1]}", timeout=10).status_code == 502

        metrics = requests.get(f"{survey}/metrics", timeout=10).text
        assert 'endpoint="/s/<token>"' in metrics and 'endpoint="unmatched"' in metrics
        assert 'clientloop_broker_up{service="survey"} 1.0' in metrics
    finally:
        gateway.stop()
        suite.stop()

    assert not [token for token in tokens if token in metrics]
    logs = {path.name: path.read_text(errors="replace")
            for path in [*tmp_path.glob("*.log"), *gateway.workdir.glob("*.log"),
                         gateway.output_path]}
    assert {"survey-web.log", "survey-relay.log", "survey-consume.log", "access.log",
            "error.log"} <= set(logs)
    leaks = [(name, line) for name, text in logs.items() for line in text.splitlines()
             if any(token in line for token in tokens)]
    assert not leaks, leaks

    gateway_lines = gateway.access_entries()
    paths = {(line["method"], line["path"], line["status"]) for line in gateway_lines}
    assert {("GET", "/survey/s/[redacted]", 200), ("POST", "/survey/s/[redacted]", 303),
            ("GET", "/survey/s/[redacted]/thanks", 200),
            ("GET", "/survey/s/[redacted]/nowhere", 404),
            ("GET", "/complaints/s/[redacted]", 502)} <= paths, paths
    web = [line for line in _lines(logs["survey-web.log"]) if line["logger"] == "clientloop.access"]
    submitted = next(line for line in gateway_lines if line["method"] == "POST"
                     and line["path"] == "/survey/s/[redacted]")
    assert [(line["path"], line["status"]) for line in web
            if line["request_id"] == submitted["request_id"]] == [("/s/[redacted]", 303)]
