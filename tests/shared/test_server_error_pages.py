"""The servers' own error answers are problem details too, in the embedded default (gunicorn
with ``shared.gunicorn_conf``, as ``clientloop up`` and ``serve`` run it) and behind the
production gateway (``deploy/gateway/nginx.conf``).

gunicorn used to answer a request line over 4,094 bytes with an HTML 414 and a query string
with raw non-ASCII bytes with an HTML 400; nginx answered its own errors (a service down, a
body over 1 MiB, an unknown path) with HTML pages. Request lines and header fields up to 8,190
bytes (nginx's own limit) now reach the apps, and what the servers still refuse is JSON.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.web import server_errors
from tests.conftest import TEST_SECRET
from tests.support.gateway import Gateway

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def exchange(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP/1.1 exchange (the request line and headers exactly as given)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + b"\r\nHost: localhost\r\nConnection: close\r\n\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    top, _, payload = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, payload


def problem_of(answer) -> dict:
    status, headers, payload = answer
    assert headers.get("content-type", "").startswith(PROBLEM), (status, headers, payload[:300])
    body = json.loads(payload)
    assert body["status"] == status and body["type"] and body["title"] and body["detail"], body
    return body


def gunicorn(tmp_path: Path, target: str, **env: str):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:shared.gunicorn_conf", "--bind",
         f"127.0.0.1:{port}", "--workers", "1", target],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "CLIENTLOOP_DATA_DIR": str(tmp_path / "data"),
             "CLIENTLOOP_SECRET_KEY": TEST_SECRET, "CLIENTLOOP_LOG_LEVEL": "WARNING", **env})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if exchange(port, b"GET /healthz HTTP/1.1")[0] in (200, 404):
                return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"gunicorn ({target}) did not start")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """The embedded default: every service on one gunicorn, as ``clientloop up`` serves it."""
    process, port = gunicorn(tmp_path_factory.mktemp("embedded"), "shared.embedded:wsgi()")
    yield port
    stop(process)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """nginx with the shipped configuration before the registry (the other services down)."""
    workdir = tmp_path_factory.mktemp("gateway")
    process, port = gunicorn(workdir, "services.registry.app:create_app()",
                             CLIENTLOOP_PROXY_HOPS="1")
    gateway = Gateway(workdir / "nginx", {"registry": [f"127.0.0.1:{port}"]})
    try:
        gateway.start()
        yield gateway
    finally:
        gateway.stop()
        stop(process)


# -- gunicorn -------------------------------------------------------------------------------
def test_gunicorn_takes_request_lines_and_header_fields_as_long_as_nginx_does():
    from shared import gunicorn_conf
    assert gunicorn_conf.limit_request_line == 8190
    assert gunicorn_conf.limit_request_field_size == 8190
    nginx = (ROOT / "deploy/gateway/nginx.conf").read_text()
    assert "large_client_header_buffers 4 8k;" in nginx  # 8 KiB less the line's CRLF


def test_a_long_url_reaches_the_app(embedded):
    path = b"/registry/api/v1/" + b"x" * 6000  # over gunicorn's default 4,094
    body = problem_of(exchange(embedded, b"GET " + path + b" HTTP/1.1"))
    assert body["status"] == 404 and body["instance"] == path.decode()


def test_a_url_over_the_limit_is_a_414_problem(embedded):
    body = problem_of(exchange(embedded, b"GET /registry/api/v1/" + b"x" * 9000 + b" HTTP/1.1"))
    assert body["status"] == 414 and "8190" in body["detail"]


def test_raw_non_ascii_bytes_in_the_query_are_a_400_problem(embedded):
    body = problem_of(exchange(embedded, b"GET /complaints/api/v1/complaints?q=\xc3\xa9t\xc3\xa9"
                                         b" HTTP/1.1"))
    assert body["status"] == 400 and "percent-encode" in body["detail"]


def test_a_header_over_the_limit_is_a_431_problem(embedded):
    body = problem_of(exchange(embedded, b"GET /registry/healthz HTTP/1.1\r\nX-Long: "
                                         + b"y" * 9000))
    assert body["status"] == 431


def test_gunicorn_problems_never_repeat_the_request_line():
    answer = server_errors.problem_bytes(400, "Bad Request")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Content-Type: application/problem+json" in answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["title"] == "Malformed request"


# -- nginx ----------------------------------------------------------------------------------
def test_behind_the_gateway_a_long_url_reaches_the_app_with_its_prefix(gateway):
    path = b"/registry/api/v1/" + b"x" * 6000
    body = problem_of(exchange(gateway.port, b"GET " + path + b" HTTP/1.1"))
    assert body["status"] == 404 and body["instance"] == path.decode()


@pytest.mark.parametrize("head, status", [
    (b"GET /registry/api/v1/" + b"x" * 9000 + b" HTTP/1.1", 414),
    (b"NOT A REQUEST", 400),
    (b"GET /registry/healthz HTTP/1.1\r\nX-Long: " + b"y" * 9000, 431),
    (b"GET /complaints/api/v1/complaints HTTP/1.1", 502),        # the service is down
    (b"GET /nowhere HTTP/1.1", 404),
    (b"GET /index.html HTTP/1.1", 404),
    (b"GET /registry/metrics HTTP/1.1", 404),                     # internal only
    (b"GET /_clientloop/problem.json HTTP/1.1", 404),
], ids=["414", "400", "431", "502", "unknown path", "nginx page", "metrics", "internal"])
def test_the_gateway_answers_its_own_errors_as_problems(gateway, head, status):
    assert problem_of(exchange(gateway.port, head))["status"] == status


def test_the_gateway_logs_the_path_asked_for_not_its_error_document(gateway):
    exchange(gateway.port, b"GET /complaints/api/v1/complaints?q=1 HTTP/1.1")
    exchange(gateway.port, b"GET /survey/s/abcdefghijklmnopqrstuvwxyz HTTP/1.1")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = {(line["path"], line["status"]) for line in gateway.access_entries()}
        if {("/complaints/api/v1/complaints", 502), ("/survey/s/[redacted]", 502)} <= lines:
            break
        time.sleep(0.1)
    assert {("/complaints/api/v1/complaints", 502), ("/survey/s/[redacted]", 502)} <= lines
    assert not [path for path, status in lines if path.startswith("/_clientloop/") and status == 502]


def test_the_gateway_refuses_a_body_over_1_mib_as_a_problem(gateway):
    head = b"POST /registry/api/v1/clients HTTP/1.1\r\nContent-Type: application/json\r\n" \
           b"Content-Length: 2000000"
    assert problem_of(exchange(gateway.port, head))["status"] == 413


def test_raw_non_ascii_bytes_behind_the_gateway_are_a_400_problem(gateway):
    body = problem_of(exchange(gateway.port, b"GET /registry/api/v1/clients?q=\xc3\xa9 HTTP/1.1"))
    assert body["status"] == 400


def test_the_services_own_problems_pass_the_gateway_untouched(gateway):
    body = problem_of(exchange(gateway.port, b"GET /registry/api/v1/clients/abc HTTP/1.1"))
    assert body["status"] == 404 and "not a UUID" in body["detail"]
    assert body["instance"] == "/registry/api/v1/clients/abc"


def test_a_survey_page_the_gateway_cannot_serve_is_a_short_html_page(gateway):
    status, headers, payload = exchange(gateway.port, b"GET /survey/s/abcdefghijklmnopqrstuvwxyz"
                                                 b" HTTP/1.1")
    assert status == 502 and headers["content-type"].startswith("text/html")
    page = payload.decode("utf-8")
    assert page.startswith("<!DOCTYPE html>") and "try again" in page
