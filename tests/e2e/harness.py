"""Run ClientLoop services as real separate processes for end-to-end tests.

Each service gets what production runs: ``clientloop migrate``, then ``clientloop serve``
(gunicorn, several workers), ``clientloop relay`` and ``clientloop consume``, configured only
through ``CLIENTLOOP_*`` environment variables.

    suite = ProcessSuite(tmp_path, broker_url=rabbitmq_url, database_urls=postgres_urls)
    registry = suite.start("registry")          # → "http://127.0.0.1:<port>"
    ...
    suite.stop()                                # in a finally / fixture teardown

The fault suite runs several relays and consumers per service (``replicas``), each in its own
process group (``process_groups=True``), kills one (``kill``) and starts it again as a
supervisor would (``restart``).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import TEST_SECRET

CLI = [sys.executable, "-m", "shared.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ProcessSuite:
    def __init__(self, tmp_path: Path, *, broker_url: str, database_urls: dict[str, str],
                 secret_key: str = TEST_SECRET, extra_env: dict[str, str] | None = None,
                 process_groups: bool = False) -> None:
        self.tmp_path = tmp_path
        self.process_groups = process_groups
        self.env = {
            **os.environ,
            "CLIENTLOOP_SECRET_KEY": secret_key,
            "CLIENTLOOP_BROKER_URL": broker_url,
            "CLIENTLOOP_DATA_DIR": str(tmp_path / "data"),
            "CLIENTLOOP_RETRY_DELAYS": "0.2,0.5",
            "CLIENTLOOP_RELAY_POLL_S": "0.2",
            "CLIENTLOOP_JOBS_INTERVAL_S": "1",
            "CLIENTLOOP_LOG_LEVEL": "WARNING",
            **{f"CLIENTLOOP_{name.upper()}_DATABASE_URL": url for name, url in database_urls.items()},
            **(extra_env or {}),
        }
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.commands: dict[str, tuple[str, ...]] = {}
        self.urls: dict[str, str] = {}

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.tmp_path / f"{name}.log", "ab" if name in self.commands else "wb")
        process = subprocess.Popen([*CLI, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=Path(__file__).resolve().parents[2],
                                   start_new_session=self.process_groups)
        log.close()
        self.commands[name] = args
        self.processes.append((name, process))
        return process

    def start(self, service: str, *, workers: int = 2, relay: bool = True, consume: bool = True,
              replicas: int = 1) -> str:
        """Migrate, then serve ``service`` with ``replicas`` relays and consumers (named
        ``<service>-relay`` / ``-consume``, or ``-relay-1``, ``-relay-2``, … when several)."""
        subprocess.run([*CLI, "migrate", service], env=self.env, check=True, capture_output=True,
                       timeout=120)
        port = free_port()
        self._spawn(f"{service}-web", "serve", service, "--bind", f"127.0.0.1:{port}",
                    "--workers", str(workers))
        for role, command, wanted in (("relay", "relay", relay), ("consume", "consume", consume)):
            if not wanted:
                continue
            for number in range(1, replicas + 1):
                name = f"{service}-{role}" if replicas == 1 else f"{service}-{role}-{number}"
                self._spawn(name, command, service)
        url = f"http://127.0.0.1:{port}"
        self._wait_healthy(service, url)
        self.urls[service] = url
        return url

    def process(self, name: str) -> subprocess.Popen:
        """The latest process started under ``name``."""
        return [process for spawned, process in self.processes if spawned == name][-1]

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Send ``sig`` to the process ``name`` (its whole group with ``process_groups``), wait
        for it to end and return its pid."""
        process = self.process(name)
        self._signal(process, sig)
        process.wait(30)
        return process.pid

    def restart(self, name: str) -> subprocess.Popen:
        """Start ``name`` again with the command it was first started with."""
        return self._spawn(name, *self.commands[name])

    def _signal(self, process: subprocess.Popen, sig: int) -> None:
        try:
            if self.process_groups:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _wait_healthy(self, service: str, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{service} did not become healthy:\n{self.logs(service)}")

    def logs(self, prefix: str = "") -> str:
        texts = []
        for path in sorted(self.tmp_path.glob(f"{prefix}*.log")):
            texts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(texts)

    def stop(self) -> None:
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                self._signal(process, signal.SIGTERM)
        for _name, process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
                process.wait(5)
            if self.process_groups:  # what a group leader left behind (gunicorn workers)
                self._signal(process, signal.SIGKILL)
        self.processes.clear()


def eventually(check, timeout: float = 5.0, interval: float = 0.1):
    """Call ``check`` until it returns a truthy value (returned) or the time is up (last value)."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = check()
    return value
