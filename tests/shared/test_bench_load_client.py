"""The bench's own HTTP client: a connection the server closed between requests costs a retry
on a new connection, never a lost request."""
from __future__ import annotations

import socket
import threading
import time

from bench import load


def _one_request_per_connection_server():
    """Answers one request on each connection and then closes it, without saying so — the
    worst case of a server's keep-alive timeout racing the client's next request."""
    listener = socket.create_server(("127.0.0.1", 0))
    served = []

    def serve(connection: socket.socket) -> None:
        with connection:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                data += chunk
            served.append(data)
            connection.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener, served


def test_requests_on_connections_the_server_closed_are_sent_again_on_new_ones():
    listener, served = _one_request_per_connection_server()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/x"
        run, answers = load.open_loop(url, lambda n: load.http_request("GET", url), rate=200,
                                      seconds=1.0, drain_s=5)
    finally:
        listener.close()
    assert run.failures == 0 and run.details["unanswered"] == 0
    assert len(answers) == 200 and {answer.status for answer in answers} == {201}
    assert len(served) == 200


def test_the_open_loop_timeline_shows_where_the_slow_answers_were():
    answers = [load.Answer(1, 100.0, 3.0, 201, b""), load.Answer(2, 100.2, 5.0, 201, b""),
               load.Answer(3, 100.6, 80.0, 201, b""), load.Answer(4, 100.7, 2.0, 201, b""),
               load.Answer(5, 101.1, None, 0, b"")]
    assert load.timeline(answers) == [[0.0, 2, 5.0, 5.0], [0.5, 2, 80.0, 80.0], [1.0, 1, None, None]]
    assert load.timeline([]) == []


def test_the_open_loop_reports_its_own_cpu_per_request():
    """The generator shares the machine with the server: its CPU per request is in the figures,
    building each request included."""
    listener, _served = _one_request_per_connection_server()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/x"

    def costly(_number: int) -> bytes:
        until = time.thread_time() + 0.002   # 2 ms of this thread's CPU per request
        while time.thread_time() < until:
            pass
        return load.http_request("GET", url)

    try:
        run, _answers = load.open_loop(url, costly, rate=100, seconds=0.5, drain_s=5)
    finally:
        listener.close()
    assert run.failures == 0
    assert 2.0 <= run.details["generator_cpu_ms_per_request"] < 50


def test_the_open_loops_lead_in_is_sent_at_the_same_rate_and_left_out_of_the_figures():
    listener, served = _one_request_per_connection_server()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/x"
    try:
        started = time.monotonic()
        run, answers = load.open_loop(url, lambda n: load.http_request("GET", url), rate=100,
                                      seconds=0.5, lead_s=0.3, drain_s=5)
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert len(served) == 80                       # 30 led in, then the 50 measured
    assert run.requests == 50 and run.details["lead_requests"] == 30
    assert sorted(answer.number for answer in answers) == list(range(31, 81))
    assert elapsed >= 0.79                         # the lead-in took its time at the rate
    first_due = min(answer.due for answer in answers)
    assert abs(first_due - (started + 0.05 + 0.3)) < 0.05
