"""One webhook delivery attempt: POST the body to a URL the policy has just checked.

The URL is checked again on every attempt (a name may resolve elsewhere since registration),
and the connection goes to an address from that check — the name is never resolved a second
time, so what was checked is what is reached. The request still names the URL's host (``Host``
header, and for https the TLS server name, verified against the certificate). The whole attempt —
connect, TLS handshake, request, answer — ends by ``timeout``, however slowly a server trickles
bytes. Redirects are never followed (a 3xx is a failed attempt), and at most 64 KiB of the
answer's body is read. Only the standard library's ``http.client`` is used.
"""
from __future__ import annotations

import http.client
import io
import select
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Mapping

from shared.webhooks.policy import Target, UrlRefused, WebhookPolicy

MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "ClientLoop-Webhooks/1"


@dataclass
class Outcome:
    status_code: int | None     # None: no answer (refused, connection failed, timed out)
    error: str | None           # why the attempt did not deliver, for ``last_error``
    duration_ms: float

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _TimedOut(Exception):
    pass


def send(policy: WebhookPolicy, url: str, body: bytes, headers: Mapping[str, str], *, timeout: float,
         ssl_context: ssl.SSLContext | None = None) -> Outcome:
    """POST ``body`` with ``headers`` to ``url``; never raises for anything the network does.

    ``ssl_context`` defaults to the system's trusted certificates with host name checking.
    """
    started = time.monotonic()
    deadline = started + timeout

    def outcome(status_code: int | None, error: str | None) -> Outcome:
        return Outcome(status_code, error, round((time.monotonic() - started) * 1000, 1))

    try:
        target = policy.check(url)
    except UrlRefused as refused:
        return outcome(None, f"refused: {refused}")
    sock = None
    try:
        sock = _connect(target, deadline)
        if target.scheme == "https":
            sock = _tls(sock, target.host, ssl_context or ssl.create_default_context(), deadline)
        status, reason, location = _exchange(sock, target, body, headers, deadline)
    except (_TimedOut, TimeoutError):
        return outcome(None, f"timed out after {timeout:g} s")
    except ssl.SSLError as error:
        return outcome(None, f"TLS failed: {error}")
    except http.client.HTTPException as error:
        return outcome(None, f"bad answer: {type(error).__name__} {error}".strip())
    except (OSError, ValueError) as error:
        return outcome(None, f"connection failed: {error}")
    finally:
        if sock is not None:
            sock.close()
    if 200 <= status < 300:
        return outcome(status, None)
    if 300 <= status < 400:
        where = f" to {location}" if location else ""
        return outcome(status, f"HTTP {status} {reason}: redirect{where} not followed".strip())
    return outcome(status, f"HTTP {status} {reason}".strip())


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _TimedOut()
    return left


def _connect(target: Target, deadline: float) -> socket.socket:
    """A TCP connection to the first of the checked addresses that answers."""
    last_error: OSError | None = None
    for address in target.addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(_remaining(deadline))
            sock.connect((address, target.port))
            return sock
        except (_TimedOut, TimeoutError):
            sock.close()
            raise
        except OSError as error:
            sock.close()
            last_error = error
    raise last_error or OSError("no address to connect to")


def _tls(sock: socket.socket, server_name: str, context: ssl.SSLContext, deadline: float) -> ssl.SSLSocket:
    """TLS over ``sock`` with SNI and certificate check for ``server_name``, by the deadline."""
    tls = context.wrap_socket(sock, server_hostname=server_name, do_handshake_on_connect=False)
    tls.setblocking(False)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            ready = select.select([tls], [], [], _remaining(deadline))[0]
        except ssl.SSLWantWriteError:
            ready = select.select([], [tls], [], _remaining(deadline))[1]
        if not ready:
            raise _TimedOut()
    tls.setblocking(True)
    return tls


def _exchange(sock: socket.socket, target: Target, body: bytes, headers: Mapping[str, str],
              deadline: float) -> tuple[int, str, str | None]:
    """Send the request and read the answer's status (and up to 64 KiB of its body)."""
    connection = http.client.HTTPConnection(sock.getpeername()[0], target.port)   # already connected
    connection.sock = sock
    request_headers = {name: value for name, value in headers.items()
                       if name.lower() not in ("host", "content-length", "transfer-encoding")}
    if not any(name.lower() == "user-agent" for name in request_headers):
        request_headers["User-Agent"] = USER_AGENT
    request_headers["Host"] = target.host_header
    sock.settimeout(_remaining(deadline))
    connection.request("POST", target.path, body=body, headers=request_headers)
    # Read the answer ourselves rather than through ``connection.getresponse()``, which closes
    # the socket under the response of a closing answer (we read through our own file).
    response = http.client.HTTPResponse(_DeadlineSocket(sock, deadline), method="POST")
    response.begin()
    try:
        response.read(MAX_ANSWER_BYTES)
    except (OSError, _TimedOut, http.client.HTTPException):
        pass                     # the status is the answer; a slow or broken body changes nothing
    return response.status, response.reason or "", response.getheader("Location")


class _DeadlineSocket:
    """What :class:`http.client.HTTPResponse` reads from: every read ends by the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._sock.settimeout(_remaining(self._deadline))
        return self._sock.recv_into(buffer)
