"""What ``clientloop up`` makes sure of before it starts anything: an address, and a data folder.

* :func:`listen` binds the listening socket itself, first of all: a port in use, a host that
  does not resolve or is not one of this machine's addresses is refused in one line before
  anything is migrated, started or printed. The web server then serves that very socket
  (gunicorn ``--bind fd://N``), so nothing can take the port in between.
* :class:`DataDirLock` holds an exclusive ``flock`` on ``<data dir>/up.lock`` for the life of the
  process (and of the web server it starts, which inherits it). The file names the holder (pid,
  URL, start time), so a second ``up`` on the same folder says which process has it.
* :func:`wait_until_serving` asks each service for its index (``GET /<service>/``) until the web
  server answers; only then does ``up`` print its :func:`banner`, after every start-up line.
"""
from __future__ import annotations

import errno
import fcntl
import http.client
import json
import os
import socket
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

LOCK_FILE = "up.lock"
START_TIMEOUT_S = 60.0
RULE = "=" * 78


class StartRefused(Exception):
    """``up`` cannot start; the message says why in one line."""


def listen(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """A socket bound to ``host:port`` and listening, or :class:`StartRefused` saying why not."""
    where = f"{host}:{port}"
    if not 0 <= port <= 65535:
        raise StartRefused(f"cannot listen on {where}: a port is a number from 1 to 65535")
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise StartRefused(f"cannot listen on {where}: the host {host!r} does not resolve "
                           f"({_reason(exc)}); use --host with an address of this machine, "
                           "such as 127.0.0.1") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise StartRefused(f"cannot listen on {where}: {_bind_advice(exc)}") from None
    sock.set_inheritable(True)
    return sock


def _bind_advice(error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return "the port is in use by another program; choose another with --port"
    if error.errno == errno.EADDRNOTAVAIL:
        return "that address is not one of this machine's; use --host 127.0.0.1 (or 0.0.0.0 for all)"
    if error.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges); choose another with --port"
    return _reason(error)


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


class DataDirLock:
    """An exclusive lock on a data folder, held until :meth:`release` or the process ends."""

    def __init__(self, folder: Path, fd: int) -> None:
        self.folder = folder
        self.fd = fd

    @classmethod
    def acquire(cls, folder: Path, *, url: str) -> "DataDirLock":
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StartRefused(f"cannot lock the data folder {folder}: {_reason(exc)}") from None
            raise StartRefused(f"the data folder {folder} is in use by {_holder(path)}; stop it "
                               "first, or give this one another --data-dir") from None
        holder = {"pid": os.getpid(), "url": url,
                  "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        return cls(folder, fd)

    def fileno(self) -> int:
        return self.fd

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)   # the lock goes with the last descriptor (the web server's too)
            self.fd = -1


def _holder(path: Path) -> str:
    """Who holds the lock, from what it wrote in the file (read again while it is writing)."""
    for _attempt in range(10):
        try:
            holder = json.loads(path.read_text())
            return f"process {holder['pid']} (clientloop up on {holder['url']}, " \
                   f"since {holder['started_at']})"
        except (OSError, ValueError, KeyError, TypeError):
            time.sleep(0.05)
    return "another process"


def url_host(host: str) -> str:
    """``host`` as it is written in a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


def loopback(listener: socket.socket) -> tuple[str, int]:
    """Where this machine reaches ``listener``: its address, or loopback for a wildcard."""
    host, port = listener.getsockname()[:2]
    wildcard = {"0.0.0.0": "127.0.0.1", "::": "::1"}
    return wildcard.get(host, host), port


def wait_until_serving(server: subprocess.Popen, address: tuple[str, int], services: Iterable[str],
                       stop: threading.Event, *, timeout_s: float = START_TIMEOUT_S) -> dict | None:
    """Each service's index once the web server answers; ``None`` when ``stop`` is set first.

    :class:`StartRefused` when the web server exits or does not answer within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not stop.is_set():
        code = server.poll()
        if code is not None:
            raise StartRefused(f"the web server stopped before it answered (exit status {code}); "
                               "see the lines above")
        try:
            return {service: _index(address, service) for service in services}
        except (OSError, http.client.HTTPException, ValueError):
            if time.monotonic() > deadline:
                raise StartRefused(f"the web server did not answer within {timeout_s:.0f} s") from None
            stop.wait(0.2)
    return None


def _index(address: tuple[str, int], service: str) -> dict:
    connection = http.client.HTTPConnection(address[0], address[1], timeout=10)
    try:
        connection.request("GET", f"/{service}/", headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise ValueError(f"/{service}/ answered {response.status}")
        return json.loads(body)
    finally:
        connection.close()


def running_url(folder: Path) -> str | None:
    """The URL of the ``clientloop up`` holding ``folder``'s lock, or None when none runs."""
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:   # held: an up runs here
            try:
                return str(json.loads(path.read_text())["url"])
            except (OSError, ValueError, KeyError, TypeError):
                return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def banner(public_url: str, data_dir: Path, indexes: dict[str, dict], token: str, days: int,
           *, sign_in_link: str | None = None) -> str:
    """What ``up`` prints once the suite answers: each service's URLs, the admin token, a curl
    to try; the staff console's URL once a service serves one, and a one-time sign-in link to
    it. Set off by blank lines and rules."""
    base = public_url.rstrip("/")
    lines = ["", RULE, f"ClientLoop is running on {base}/  (data in {data_dir})", ""]
    consoles = []
    for service, index in indexes.items():
        links = index.get("links", {})
        lines.append(f"  {service:<12} API        {base}{links.get('api', f'/{service}/api/v1/')}")
        if "docs" in links:
            lines.append(f"  {'':<12} reference  {base}{links['docs']}")
        else:
            lines.append(f"  {'':<12} OpenAPI    {base}{links.get('openapi', f'/{service}/openapi.json')}")
        if "console" in links:
            consoles.append(base + links["console"].rstrip("/") + "/")
    lines += [f"  {'console':<12} {console}" for console in consoles]
    lines += ["", f"Admin token (valid {days} days):", token, ""]
    if consoles and sign_in_link:
        lines += ["Staff console: sign in as admin with this link (once, within 15 minutes;",
                  "'clientloop console link --name NAME --role ROLE' makes more):",
                  sign_in_link, ""]
    lines += ["Try it:",
              f"  curl -H 'Authorization: Bearer {token}' {base}/registry/api/v1/clients",
              "",
              f"Each service describes itself at its prefix ({base}/registry/ and so on).",
              "Press Ctrl-C to stop.",
              RULE, ""]
    return "\n".join(lines)
