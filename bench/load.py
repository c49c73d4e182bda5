"""Load generators: ``wrk`` (closed loop: N connections, each sending its next request when the
last one was answered) and a small asyncio HTTP/1.1 client, used for the closed loop when wrk is
missing and for open-loop runs at a fixed rate.

The open loop sends request *i* at ``start + i / rate`` whatever happened to the earlier ones
(a new keep-alive connection is opened when none is free, up to a bound) and measures each
latency from the moment the request was *due*, not from when it could be sent: a server that
falls behind shows it in the latencies instead of slowing the generator down (the
"coordinated omission" wrk2 corrects; wrk2 is not packaged in Debian, and wrk's Lua ``delay``
only spaces a connection's own requests, so it under-reports a stall).
"""
from __future__ import annotations

import asyncio
import json
import math
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import urlsplit

from bench.support import ROOT, percentile

LUA = ROOT / "bench" / "submit_tokens.lua"
COMMENT = "交付及时，沟通顺畅。Delivery was on time and the team kept us informed."


def submit_body(token: str, number: int) -> bytes:
    """The body wrk's script sends for its request ``number`` (1-based), byte for byte."""
    return (f'{{"token":"{token}","answers":{{"nps":{number % 11},"csat":{1 + number % 5},'
            f'"ces":{1 + number % 7},"comment":"{COMMENT}"}}}}').encode()


@dataclass
class Run:
    """A load run's figures: rate in requests a second, latencies in milliseconds."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failures: int = 0  # non-2xx answers, errors, timeouts
    tool: str = ""
    details: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_json(self) -> dict:
        return {"requests": self.requests, "seconds": round(self.seconds, 3),
                "rate": round(self.rate, 1), "p50_ms": round(self.p50_ms, 2),
                "p99_ms": round(self.p99_ms, 2), "failures": self.failures, "tool": self.tool,
                **self.details}


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def wrk(url: str, tokens_file: Path, *, connections: int, seconds: float,
        threads: int = 2) -> Run:
    """``wrk -t2 -cN -dS`` with the token script against ``url``."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               "--timeout", "10s", "-s", str(LUA), url, "--", str(threads), str(tokens_file)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    line = next((line for line in done.stdout.splitlines() if line.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[:400]}")
    figures = json.loads(line[len("BENCH "):])
    failures = sum(figures[key] for key in ("status_errors", "connect_errors", "read_errors",
                                            "write_errors", "timeouts"))
    return Run(figures["requests"], figures["duration_us"] / 1e6, figures["p50_us"] / 1000,
               figures["p99_us"] / 1000, failures, "wrk", {"raw": figures})


# == a minimal asyncio HTTP/1.1 client ============================================================

class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = time.monotonic()

    def close(self) -> None:
        self.writer.close()


async def _connect(host: str, port: int) -> _Connection:
    reader, writer = await asyncio.open_connection(host, port)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return _Connection(reader, writer)


async def _exchange(connection: _Connection, request: bytes) -> tuple[int, bytes, bool]:
    """Send one request, read its answer: (status, body, the server keeps the connection)."""
    connection.writer.write(request)
    await connection.writer.drain()
    status_line = await connection.reader.readline()
    if not status_line:
        raise ConnectionResetError("closed before answering")
    status = int(status_line.split()[1])
    length, chunked, keep = 0, False, True
    while True:
        line = await connection.reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            keep = False
    if chunked:
        parts = []
        while True:
            size = int((await connection.reader.readline()).split(b";")[0], 16)
            if size == 0:
                await connection.reader.readline()
                break
            parts.append(await connection.reader.readexactly(size))
            await connection.reader.readline()
        body = b"".join(parts)
    else:
        body = await connection.reader.readexactly(length) if length else b""
    return status, body, keep


def http_request(method: str, url: str, body: bytes = b"", headers: dict | None = None) -> bytes:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


#: Idle connections older than this are closed rather than used: the server closes a
#: keep-alive connection after 2 s without a request (gunicorn's default), and a request sent as
#: it does so is lost to the race.
IDLE_S = 1.0


class _Pool:
    """Keep-alive connections, the most recently used first; one idle for more than
    :data:`IDLE_S` is closed instead. A request that finds its connection closed before any
    answer is sent again on a new connection (never on another idle one, which may be as old)."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.idle: list[_Connection] = []
        self.opened = 0
        self.free = asyncio.Condition()
        self.peak = 0

    async def take(self, fresh: bool = False) -> _Connection:
        """An idle connection (the most recently used), else a new one; ``fresh``: a new one."""
        async with self.free:
            stale = time.monotonic() - IDLE_S
            while self.idle and self.idle[0].idle_since < stale:
                self.idle.pop(0).close()   # the oldest first
                self.opened -= 1
            while not self.idle and self.opened >= self.limit:
                await self.free.wait()
            if self.idle and not fresh:
                return self.idle.pop()
            if self.opened >= self.limit:   # fresh at the limit: an idle one makes room
                self.idle.pop(0).close()
                self.opened -= 1
            self.opened += 1
            self.peak = max(self.peak, self.opened)
        try:
            return await _connect(self.host, self.port)
        except BaseException:
            async with self.free:
                self.opened -= 1
                self.free.notify()
            raise

    async def give(self, connection: _Connection | None) -> None:
        async with self.free:
            if connection is None:
                self.opened -= 1
            else:
                connection.idle_since = time.monotonic()
                self.idle.append(connection)
            self.free.notify()

    async def send(self, request: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):
            connection = await self.take(fresh=attempt == 2)
            try:
                status, body, keep = await _exchange(connection, request)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                connection.close()
                await self.give(None)
                if attempt == 2 or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                    raise
                continue
            except BaseException:
                connection.close()
                await self.give(None)
                raise
            if keep:
                await self.give(connection)
            else:
                connection.close()
                await self.give(None)
            return status, body
        raise AssertionError("unreachable")

    def close(self) -> None:
        for connection in self.idle:
            connection.close()


Requests = Callable[[int], bytes]  # request number (1-based) → the request's bytes


def closed_loop(url: str, make_request: Requests, *, connections: int, seconds: float) -> Run:
    """``connections`` clients each sending its next request when the last was answered, for
    ``seconds``; the Python stand-in for wrk."""
    return asyncio.run(_closed_loop(url, make_request, connections, seconds))


async def _closed_loop(url: str, make_request: Requests, connections: int, seconds: float) -> Run:
    parts = urlsplit(url)
    latencies: list[float] = []
    failures = 0
    counter = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def client() -> None:
        nonlocal counter, failures
        connection = await _connect(parts.hostname, parts.port)
        try:
            while time.perf_counter() < deadline:
                counter += 1
                request = make_request(counter)
                sent = time.perf_counter()
                try:
                    status, _body, keep = await _exchange(connection, request)
                except (ConnectionError, asyncio.IncompleteReadError):
                    failures += 1
                    connection.close()
                    connection = await _connect(parts.hostname, parts.port)
                    continue
                latencies.append((time.perf_counter() - sent) * 1000)
                if not 200 <= status < 400:
                    failures += 1
                if not keep:
                    connection.close()
                    connection = await _connect(parts.hostname, parts.port)
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return Run(len(latencies), elapsed, percentile(latencies, 0.5), percentile(latencies, 0.99),
               failures, "python")


@dataclass
class Answer:
    number: int
    due: float          # time.monotonic() at which it was due
    latency_ms: float | None  # None: no answer (error or still pending at the end)
    status: int
    body: bytes


def timeline(answers: Sequence[Answer], *, step_s: float = 0.5) -> list[list]:
    """Per ``step_s`` of due time: ``[offset s, requests, p50 ms, max ms]`` (``None``: some
    request unanswered) — where in a run the slow answers were."""
    if not answers:
        return []
    first = min(answer.due for answer in answers)
    steps: dict[int, list[float]] = {}
    for answer in answers:
        latency = math.inf if answer.latency_ms is None else answer.latency_ms
        steps.setdefault(int((answer.due - first) / step_s), []).append(latency)
    rows = []
    for index in sorted(steps):
        values = sorted(steps[index])
        middle, worst = values[len(values) // 2], values[-1]
        rows.append([round(index * step_s, 2), len(values),
                     None if math.isinf(middle) else round(middle, 1),
                     None if math.isinf(worst) else round(worst, 1)])
    return rows


def open_loop(url: str, make_request: Requests, *, rate: float, seconds: float,
              max_connections: int = 256, drain_s: float = 20.0, lead_s: float = 0.0,
              on_answer: Callable[[Answer], None] | None = None) -> tuple[Run, list[Answer]]:
    """Request *i* due at ``start + i / rate`` for ``seconds``; latencies from the due time.
    Requests still unanswered ``drain_s`` after the last was due count as failures.

    ``lead_s``: the same rate for that long first, on the same connections, its requests
    (numbered first) neither counted nor returned — the generator's connections opened, and the
    server past the change from whatever it did before, when measuring starts."""
    return asyncio.run(_open_loop(url, make_request, rate, seconds, max_connections, drain_s,
                                  on_answer, lead_s))


async def _open_loop(url, make_request, rate, seconds, max_connections, drain_s, on_answer,
                     lead_s=0.0):
    parts = urlsplit(url)
    pool = _Pool(parts.hostname, parts.port, max_connections)
    answers: list[Answer] = []
    lead = int(rate * lead_s)
    total = max(1, int(rate * seconds))
    start = time.monotonic() + 0.05
    late_sends = 0
    cpu_before = time.thread_time()

    async def one(number: int, due: float) -> None:
        try:
            status, body = await pool.send(make_request(number))
        except Exception as exc:  # noqa: BLE001 - counted as a failure
            answer = Answer(number, due, None, 0, repr(exc).encode())
        else:
            answer = Answer(number, due, (time.monotonic() - due) * 1000, status, body)
        if number <= lead:
            return
        answers.append(answer)
        if on_answer is not None:
            on_answer(answer)

    tasks = []
    for number in range(1, lead + total + 1):
        due = start + (number - 1) / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005 and number > lead:
            late_sends += 1
        tasks.append(asyncio.create_task(one(number, due)))
    last_due = start + (lead + total - 1) / rate
    done, pending = await asyncio.wait(tasks, timeout=max(0.1, last_due + drain_s - time.monotonic()))
    for task in pending:
        task.cancel()
    pool.close()
    cpu_ms = (time.thread_time() - cpu_before) * 1000 * total / (lead + total)
    answered = [a for a in answers if a.latency_ms is not None]
    latencies = [a.latency_ms for a in answered]
    failures = total - sum(1 for a in answered if 200 <= a.status < 400)
    # A request never answered counts as slower than any answered one.
    worst = latencies + [float("inf")] * (total - len(latencies))
    run = Run(total, total / rate, percentile(worst, 0.5), percentile(worst, 0.99), failures,
              "python open loop",
              {"offered_rate": round(rate, 1), "connections_used": pool.peak, "drain_s": drain_s,
               "lead_s": lead_s, "lead_requests": lead,
               "late_sends": late_sends, "unanswered": total - len(answered),
               "generator_cpu_ms_per_request": round(cpu_ms / total, 3)})
    return run, answers
