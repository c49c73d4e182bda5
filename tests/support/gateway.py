"""Run the production nginx gateway (``deploy/gateway/nginx.conf``) in front of local services.

The file docker-compose mounts is rendered with only what differs on this machine: each
upstream's server addresses, the listen address, and the log, pid and temporary paths (under
``workdir``). Everything else — routing, headers, the redacting JSON access log — is the
shipped configuration. Debian's ``/usr/sbin/nginx`` runs it as the current user; as root its
workers drop to nginx's default user (``nobody``), exactly as in the container, and their
temporary folders (request bodies and responses too big for memory) then live in a folder of
their own under the system's temporary directory, since pytest's is private to root.

    gateway = Gateway(tmp_path / "gateway", {"survey": ["127.0.0.1:8101", "127.0.0.1:8102"]})
    url = gateway.start()                        # → "http://127.0.0.1:<port>"
    ...
    gateway.stop()                               # in a finally / fixture teardown

A service without upstream addresses answers 502 (its upstream is marked down).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import REQUIRE

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy/gateway/nginx.conf"
NGINX = Path("/usr/sbin/nginx")
TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")

_UPSTREAM = re.compile(r"^([ \t]*upstream\s+(\w+)\s*\{)[^}]*(\})[ \t]*$", re.MULTILINE)
_LISTEN = re.compile(r"^([ \t]*listen\s+)8000;[ \t]*$", re.MULTILINE)
_ACCESS_LOG = re.compile(r"^([ \t]*access_log\s+)/var/log/nginx/access\.log(\s+\w+;)[ \t]*$", re.MULTILINE)
_ERROR_LOG = re.compile(r"^(error_log\s+)/var/log/nginx/error\.log(\s+\w+;)[ \t]*$", re.MULTILINE)
_HTTP = re.compile(r"^http \{\n", re.MULTILINE)


def need_nginx() -> None:
    """Skip (or, with ``CLIENTLOOP_REQUIRE_SERVICES=1``, fail) when nginx is not installed."""
    if NGINX.is_file() and os.access(NGINX, os.X_OK):
        return
    message = f"nginx is not installed at {NGINX} (apt-get install nginx-light)"
    if REQUIRE:
        pytest.fail(message + " and CLIENTLOOP_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sub_once(pattern: re.Pattern, replacement, text: str, what: str) -> str:
    rendered, count = pattern.subn(replacement, text)
    if count != 1:
        raise AssertionError(f"{CONF.name}: expected one {what} line, found {count}")
    return rendered


def render(conf: str, upstreams: dict[str, list[str]], *, listen: str, access_log: Path,
           error_log: Path, temp_dir: Path) -> str:
    """``conf`` with local upstream addresses, listen address and paths; nothing else changed."""
    seen: set[str] = set()

    def upstream(match: re.Match) -> str:
        name = match.group(2)
        seen.add(name)
        servers = upstreams.get(name) or []
        lines = " ".join(f"server {address};" for address in servers) or "server 127.0.0.1:9 down;"
        return f"{match.group(1)} {lines} {match.group(3)}"

    rendered = _UPSTREAM.sub(upstream, conf)
    unknown = set(upstreams) - seen
    if unknown:
        raise ValueError(f"no upstream named {sorted(unknown)} in {CONF.name}")
    rendered = _sub_once(_LISTEN, lambda m: f"{m.group(1)}{listen};", rendered, "listen 8000")
    rendered = _sub_once(_ACCESS_LOG, lambda m: f"{m.group(1)}{access_log}{m.group(2)}", rendered,
                         "access_log")
    rendered = _sub_once(_ERROR_LOG, lambda m: f"{m.group(1)}{error_log}{m.group(2)}", rendered,
                         "error_log")
    temp_paths = "".join(f"  {kind}_temp_path {temp_dir / kind};\n" for kind in TEMP_KINDS)
    return _sub_once(_HTTP, lambda m: m.group(0) + temp_paths, rendered, "http {")


class Gateway:
    def __init__(self, workdir: Path, upstreams: dict[str, list[str]], *,
                 port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.upstreams = {name: list(addresses) for name, addresses in upstreams.items()}
        self.port = port
        self.access_log = self.workdir / "access.log"
        self.error_log = self.workdir / "error.log"
        self.conf_path = self.workdir / "nginx.conf"
        self.pid_path = self.workdir / "nginx.pid"
        self.output_path = self.workdir / "nginx.out"
        self.process: subprocess.Popen | None = None
        self._temp_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        need_nginx()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or _free_port()
        self._temp_dir = self._make_temp_dir()
        self.conf_path.write_text(render(
            CONF.read_text(), self.upstreams, listen=f"127.0.0.1:{self.port}",
            access_log=self.access_log, error_log=self.error_log, temp_dir=self._temp_dir))
        with open(self.output_path, "ab") as output:
            self.process = subprocess.Popen(
                [str(NGINX), "-p", str(self.workdir), "-c", str(self.conf_path),
                 "-e", str(self.error_log), "-g", f"daemon off; pid {self.pid_path};"],
                stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_listening()
        return self.url

    def _make_temp_dir(self) -> Path:
        if os.geteuid() != 0:
            path = self.workdir / "temp"
            path.mkdir(exist_ok=True)
            return path
        # nginx's workers drop to ``nobody`` and must reach these folders; pytest's temporary
        # tree is private to root, so they live in a folder of their own that nobody can enter
        # but not list (nginx makes the folders inside it and gives them to its workers).
        path = Path(tempfile.mkdtemp(prefix="clientloop-gateway-"))
        path.chmod(0o711)
        return path

    def _wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        output = self.output_path.read_text(errors="replace")
        errors = self.error_log.read_text(errors="replace") if self.error_log.exists() else ""
        self.stop()
        raise RuntimeError(f"nginx did not start on port {self.port}:\n{output}\n{errors}")

    def reopen_logs(self) -> None:
        """Ask nginx to flush and reopen its logs (``nginx -s reopen``)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)

    def access_entries(self) -> list[dict]:
        """The access log, one parsed JSON object per request."""
        if not self.access_log.exists():
            return []
        return [json.loads(line) for line in self.access_log.read_text().splitlines() if line]

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGQUIT)  # graceful: finish requests, flush the logs
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # its own session: master and workers
                process.wait(5)
        if self._temp_dir is not None and self._temp_dir != self.workdir / "temp":
            shutil.rmtree(self._temp_dir, ignore_errors=True)
        self._temp_dir = None

    def __enter__(self) -> "Gateway":
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()
