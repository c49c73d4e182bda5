"""Run ClientLoop services as real separate processes for end-to-end tests.

Each service gets what production runs: ``clientloop migrate``, then ``clientloop serve``
(gunicorn, several workers), ``clientloop relay`` and ``clientloop consume``, configured only
through ``CLIENTLOOP_*`` environment variables.

    suite = ProcessSuite(tmp_path, broker_url=rabbitmq_url, database_urls=postgres_urls)
    registry = suite.start("registry")          # → "http://127.0.0.1:<port>"
    ...
    suite.stop()                                # in a finally / fixture teardown
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

CLI = [sys.executable, "-m", "shared.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ProcessSuite:
    def __init__(self, tmp_path: Path, *, broker_url: str, database_urls: dict[str, str],
                 secret_key: str = "test-secret", extra_env: dict[str, str] | None = None) -> None:
        self.tmp_path = tmp_path
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
        self.urls: dict[str, str] = {}

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.tmp_path / f"{name}.log", "wb")
        process = subprocess.Popen([*CLI, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=Path(__file__).resolve().parents[2])
        self.processes.append((name, process))
        return process

    def start(self, service: str, *, workers: int = 2, relay: bool = True, consume: bool = True) -> str:
        subprocess.run([*CLI, "migrate", service], env=self.env, check=True, capture_output=True,
                       timeout=120)
        port = free_port()
        self._spawn(f"{service}-web", "serve", service, "--bind", f"127.0.0.1:{port}",
                    "--workers", str(workers))
        if relay:
            self._spawn(f"{service}-relay", "relay", service)
        if consume:
            self._spawn(f"{service}-consume", "consume", service)
        url = f"http://127.0.0.1:{port}"
        self._wait_healthy(service, url)
        self.urls[service] = url
        return url

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
                process.terminate()
        for _name, process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()


def eventually(check, timeout: float = 5.0, interval: float = 0.1):
    """Call ``check`` until it returns a truthy value (returned) or the time is up (last value)."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = check()
    return value
