"""One delivery attempt against a real HTTP server on 127.0.0.1 (http, and https with a
certificate made for the test). Names resolve through stub resolvers and ``socket.getaddrinfo``
is replaced wherever a second lookup would show, so nothing leaves the machine.
"""
from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

from shared.webhooks.policy import WebhookPolicy
from shared.webhooks.sender import send
from shared.webhooks.signing import new_secret, signed_headers

BODY = json.dumps({"specversion": "1.0", "id": "evt-1", "type": "complaint.opened",
                   "data": {"title": "Ünïcödé ✓"}}, ensure_ascii=False).encode("utf-8")
LOCAL = WebhookPolicy(allow_private=True)


class Receiver:
    """A webhook receiver on 127.0.0.1: records every request; ``answers[path]`` says how to answer."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[dict] = []
        self.answers: dict[str, object] = {}
        self.release = threading.Event()
        self.server_names: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.requests.append({"method": self.command, "path": self.path,
                                          "headers": list(self.headers.items()),
                                          "body": self.rfile.read(length)})
                answer = receiver.answers.get(self.path.split("?")[0], 200)
                if callable(answer):
                    answer(self, receiver)
                else:
                    self.send_response(answer)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        if tls is not None:
            tls.sni_callback = lambda sslsock, name, context: self.server_names.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def headers(self, index: int = 0) -> dict[str, str]:
        return {name.lower(): value for name, value in self.requests[index]["headers"]}

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


class StubResolver:
    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return self.table[host]


@pytest.fixture
def no_dns(monkeypatch):
    """``socket.getaddrinfo`` fails and remembers the question: a second lookup would show."""
    asked: list[tuple] = []

    def refuse(*args, **kwargs):
        asked.append(args)
        raise socket.gaierror(socket.EAI_NONAME, "no DNS in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return asked


def test_body_bytes_and_headers_arrive_exactly_and_2xx_is_delivered(receiver):
    secret = new_secret()
    headers = signed_headers(secret, "evt-1", datetime.now(timezone.utc), BODY)
    receiver.answers["/hook"] = 204
    outcome = send(LOCAL, receiver.url("/hook?tenant=7"), BODY, headers, timeout=5)
    assert (outcome.status_code, outcome.error, outcome.delivered) == (204, None, True)
    assert outcome.duration_ms > 0
    [request] = receiver.requests
    assert (request["method"], request["path"], request["body"]) == ("POST", "/hook?tenant=7", BODY)
    received = receiver.headers()
    for name, value in headers.items():
        assert received[name] == value
    assert received["content-length"] == str(len(BODY))
    assert received["host"] == f"127.0.0.1:{receiver.port}"
    assert Webhook(secret).verify(request["body"], received)["data"]["title"] == "Ünïcödé ✓"


@pytest.mark.parametrize("code", [200, 201, 202, 299])
def test_every_2xx_is_delivered(receiver, code):
    receiver.answers["/hook"] = code
    assert send(LOCAL, receiver.url(), BODY, {}, timeout=5).delivered


@pytest.mark.parametrize("code", [500, 410, 404, 429])
def test_other_answers_are_reported_with_their_code_and_not_delivered(receiver, code):
    receiver.answers["/hook"] = code
    outcome = send(LOCAL, receiver.url(), BODY, {}, timeout=5)
    assert (outcome.status_code, outcome.delivered) == (code, False)
    assert outcome.error.startswith(f"HTTP {code}")


def test_a_redirect_is_not_followed_and_not_delivered(receiver):
    def redirect(handler, _receiver):
        handler.send_response(302)
        handler.send_header("Location", receiver.url("/target"))
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    receiver.answers["/hook"] = redirect
    outcome = send(LOCAL, receiver.url("/hook"), BODY, {}, timeout=5)
    assert (outcome.status_code, outcome.delivered) == (302, False)
    assert "not followed" in outcome.error
    time.sleep(0.2)
    assert [request["path"] for request in receiver.requests] == ["/hook"]


def test_a_server_slower_than_the_timeout_gives_no_status_within_the_timeout(receiver):
    def hang(handler, running):
        running.release.wait(10)

    receiver.answers["/hook"] = hang
    started = time.monotonic()
    outcome = send(LOCAL, receiver.url(), BODY, {}, timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert (outcome.status_code, outcome.delivered) == (None, False)
    assert "timed out" in outcome.error


def test_a_server_trickling_its_answer_is_cut_off_at_the_timeout(receiver):
    def trickle(handler, running):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(50):                     # one header line every 0.1 s, for 5 s
            if running.release.wait(0.1):
                return
            handler.wfile.write(b"X-Slow: a\r\n")

    receiver.answers["/hook"] = trickle
    started = time.monotonic()
    outcome = send(LOCAL, receiver.url(), BODY, {}, timeout=1)
    assert time.monotonic() - started < 2
    assert (outcome.status_code, outcome.error) == (None, "timed out after 1 s")


def test_at_most_64_kib_of_the_answer_is_read(receiver):
    def endless(handler, running):
        handler.send_response(200)
        handler.send_header("Content-Length", str(100 * 1024 * 1024))
        handler.end_headers()
        handler.wfile.write(b"x" * (70 * 1024))
        running.release.wait(10)                # the rest never comes

    receiver.answers["/hook"] = endless
    started = time.monotonic()
    outcome = send(LOCAL, receiver.url(), BODY, {}, timeout=3)
    assert outcome.delivered
    assert time.monotonic() - started < 2


def test_nobody_listening_is_a_connection_failure(receiver):
    port = receiver.port
    receiver.close()
    outcome = send(LOCAL, f"http://127.0.0.1:{port}/hook", BODY, {}, timeout=2)
    assert (outcome.status_code, outcome.delivered) == (None, False)
    assert outcome.error.startswith("connection failed")


def test_a_url_resolving_to_a_private_address_is_refused_without_connecting(monkeypatch):
    attempts: list[tuple] = []

    def no_connection(*args, **kwargs):
        attempts.append(args)
        raise OSError("no connection in this test")

    monkeypatch.setattr(socket, "socket", no_connection)
    monkeypatch.setattr(socket, "create_connection", no_connection)
    strict = WebhookPolicy(resolver=StubResolver({"hooks.example.test": ["10.0.0.1"]}))
    outcome = send(strict, "http://hooks.example.test:8080/hook", BODY, {}, timeout=2)
    outcome_https = send(strict, "https://hooks.example.test/hook", BODY, {}, timeout=2)
    assert attempts == []
    for refused in (outcome, outcome_https):
        assert (refused.status_code, refused.delivered) == (None, False)
        assert refused.error.startswith("refused: ")
    assert "public addresses" in outcome_https.error


def test_the_address_checked_is_the_address_connected_to(receiver, no_dns):
    resolver = StubResolver({"hooks.example.test": ["127.0.0.1"]})
    pinned = WebhookPolicy(allow_private=True, allow_hosts=("hooks.example.test",), resolver=resolver)
    outcome = send(pinned, receiver.url("/hook", host="hooks.example.test"), BODY,
                   {"webhook-id": "evt-1", "host": "evil.example.test"}, timeout=5)
    assert outcome.delivered, outcome.error
    assert resolver.calls == [("hooks.example.test", receiver.port)]
    assert no_dns == []
    assert receiver.headers()["host"] == f"hooks.example.test:{receiver.port}"
    assert [value for name, value in receiver.requests[0]["headers"] if name.lower() == "host"] == \
        [f"hooks.example.test:{receiver.port}"]


def test_allowed_hosts_refuse_a_delivery_elsewhere(receiver, no_dns):
    resolver = StubResolver({"hooks.example.test": ["127.0.0.1"]})
    limited = WebhookPolicy(allow_private=True, allow_hosts=("127.0.0.1",), resolver=resolver)
    outcome = send(limited, receiver.url("/hook", host="hooks.example.test"), BODY, {}, timeout=5)
    assert outcome.error.startswith("refused: ")
    assert (resolver.calls, receiver.requests) == ([], [])


# -- https -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate (and key) for hooks.example.test, made with the openssl tool."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=hooks.example.test", "-addext", "subjectAltName=DNS:hooks.example.test",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_receiver(certificate):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    running = Receiver(tls=context)
    yield running
    running.close()


def trusting(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certificate[0]))
    return context


def test_https_names_the_host_in_sni_and_verifies_the_certificate_against_it(tls_receiver, certificate,
                                                                             no_dns):
    resolver = StubResolver({"hooks.example.test": ["127.0.0.1"]})
    pinned = WebhookPolicy(allow_private=True, resolver=resolver)
    outcome = send(pinned, tls_receiver.url("/hook", host="hooks.example.test", scheme="https"), BODY, {},
                   timeout=5, ssl_context=trusting(certificate))
    assert outcome.delivered, outcome.error
    assert tls_receiver.server_names == ["hooks.example.test"]
    assert tls_receiver.requests[0]["body"] == BODY
    assert tls_receiver.headers()["host"] == f"hooks.example.test:{tls_receiver.port}"


def test_https_refuses_a_certificate_for_another_host(tls_receiver, certificate, no_dns):
    resolver = StubResolver({"other.example.test": ["127.0.0.1"]})
    pinned = WebhookPolicy(allow_private=True, resolver=resolver)
    outcome = send(pinned, tls_receiver.url("/hook", host="other.example.test", scheme="https"), BODY, {},
                   timeout=5, ssl_context=trusting(certificate))
    assert (outcome.status_code, outcome.delivered) == (None, False)
    assert outcome.error.startswith("TLS failed") and "hostname" in outcome.error.lower()
    assert tls_receiver.requests == []


def test_https_refuses_a_certificate_nobody_trusts(tls_receiver, no_dns):
    resolver = StubResolver({"hooks.example.test": ["127.0.0.1"]})
    pinned = WebhookPolicy(allow_private=True, resolver=resolver)
    outcome = send(pinned, tls_receiver.url("/hook", host="hooks.example.test", scheme="https"), BODY, {},
                   timeout=5)
    assert outcome.status_code is None
    assert outcome.error.startswith("TLS failed") and "certificate verify failed" in outcome.error
    assert tls_receiver.requests == []


def test_a_tls_handshake_that_never_ends_is_cut_off_at_the_timeout():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        started = time.monotonic()
        outcome = send(LOCAL, f"https://127.0.0.1:{silent.getsockname()[1]}/hook", BODY, {}, timeout=0.5)
        assert time.monotonic() - started < 1.5
        assert (outcome.status_code, outcome.error) == (None, "timed out after 0.5 s")
    finally:
        silent.close()
