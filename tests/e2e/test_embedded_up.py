"""``clientloop up``: the whole suite from one command on the embedded default.

Started as a user would (``python -m shared.cli up``) with no ``CLIENTLOOP_*`` variables: it
serves every service under its prefix, prints an admin token that works, is ready, stops
cleanly on Ctrl-C (SIGINT), and a second start on the same data dir still has the data.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from shared.runtime import available_services, service_module
from tests.e2e.harness import eventually, free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 20


class Suite:
    """One ``clientloop up`` process, its output collected as it is printed."""

    def __init__(self, data_dir: Path, log_dir: Path, *extra: str,
                 environment: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        env = {key: value for key, value in os.environ.items()
           if not key.startswith("CLIENTLOOP_") or key == "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS"}
        env["CLIENTLOOP_LOG_LEVEL"] = "WARNING"
        env.update(environment or {})
        self.stderr_path = log_dir / f"up-{self.port}.err"
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "up", "--port", str(self.port), "--data-dir", str(data_dir), *extra],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
            start_new_session=True)  # its own process group: a failed test leaves no server
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines) + "\n--- stderr\n" + self.stderr_path.read_text(errors="replace")[-4000:]

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"clientloop up exited with {self.process.returncode}:\n{self.output()}")
            try:
                if requests.get(f"{self.url}/registry/healthz", timeout=1).status_code == 200 and self.token():
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"clientloop up was not healthy within {START_TIMEOUT_S} s:\n{self.output()}")

    def token(self) -> str | None:
        for index, line in enumerate(self.lines):
            if line.startswith("Admin token") and index + 1 < len(self.lines):
                return self.lines[index + 1].strip() or None
        return None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT, then the exit code (within STOP_TIMEOUT_S seconds)."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        finally:
            self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        try:  # the web server it started, should it have outlived it
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._reader.join(5)
        self._stderr.close()


@pytest.fixture
def suites():
    started: list[Suite] = []
    yield started
    for suite in started:
        suite.close()


def start(suites, data_dir: Path, log_dir: Path, *extra: str,
          environment: dict[str, str] | None = None) -> Suite:
    suite = Suite(data_dir, log_dir, *extra, environment=environment)
    suites.append(suite)
    suite.wait_healthy()
    return suite


def test_up_serves_every_service_stops_on_ctrl_c_and_keeps_its_data(tmp_path, suites):
    data_dir = tmp_path / "var"
    suite = start(suites, data_dir, tmp_path)
    printed = "\n".join(suite.lines)
    for service in available_services():
        assert f"{suite.url}/{service}/api/v1/" in printed
        assert requests.get(f"{suite.url}/{service}/healthz", timeout=5).status_code == 200
        ready = requests.get(f"{suite.url}/{service}/readyz?verbose", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
        assert requests.get(f"{suite.url}/{service}/openapi.json", timeout=5).status_code == 200
    unknown = requests.get(f"{suite.url}/nowhere", timeout=5)
    assert unknown.status_code == 404 and unknown.headers["Content-Type"] == "application/problem+json"

    clients = f"{suite.url}/registry/api/v1/clients"
    assert requests.get(clients, timeout=5).status_code == 401
    created = requests.post(clients, headers=suite.headers(), timeout=10,
                            json={"name": "中国移动 China Mobile", "kind": "external", "category": "enterprise"})
    assert created.status_code == 201, created.text
    client = created.json()
    assert created.headers["Location"] == f"/registry/api/v1/clients/{client['id']}"
    assert requests.get(f"{suite.url}{created.headers['Location']}", headers=suite.headers(), timeout=5).json() == client
    first_token = suite.token()

    started = time.monotonic()
    assert suite.interrupt() == 0, suite.output()
    assert time.monotonic() - started < STOP_TIMEOUT_S
    assert "ClientLoop stopped." in suite.lines, suite.output()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{suite.url}/registry/healthz", timeout=2)   # the web server went with it

    again = start(suites, data_dir, tmp_path)
    assert again.token() != first_token
    for token in (again.token(), first_token):  # the data dir's key signs both runs' tokens
        read = requests.get(f"{again.url}/registry/api/v1/clients/{client['id']}",
                            headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert read.status_code == 200, read.text
        assert read.json()["name"] == "中国移动 China Mobile"
    listed = requests.get(f"{again.url}/registry/api/v1/clients", headers=again.headers(), timeout=5).json()
    assert listed["total"] == 1
    assert again.interrupt() == 0, again.output()


def test_up_with_demo_starts_and_loads_the_demo_clients(tmp_path, suites):
    suite = start(suites, tmp_path / "demo", tmp_path, "--demo")
    listed = requests.get(f"{suite.url}/registry/api/v1/clients", params={"per_page": 200},
                          headers=suite.headers(), timeout=10)
    assert listed.status_code == 200, listed.text
    if hasattr(service_module("registry"), "load_demo"):
        names = [item["name"] for item in listed.json()["items"]]
        assert listed.json()["total"] > 0
        assert any(any("\u4e00" <= char <= "\u9fff" for char in name) for name in names), names  # Chinese
        assert any(any(char.isascii() and char.isalpha() for char in name) for name in names), names  # English

    def demo_complaints():
        answer = requests.get(f"{suite.url}/complaints/api/v1/complaints", headers=suite.headers(),
                              timeout=10)
        return answer.status_code == 200 and answer.json()["total"] > 0

    # The complaints service learns the demo clients from registry events, then creates its
    # demo complaints within seconds of start, not at the next regular jobs pass (60 s).
    assert eventually(demo_complaints, timeout=20, interval=0.5), suite.output()
    assert suite.interrupt() == 0, suite.output()


def _nice(pid: int, tid: int | None = None) -> int:
    """A thread's (or a process's main thread's) nice value, from /proc."""
    path = f"/proc/{pid}/task/{tid or pid}/stat"
    return int(Path(path).read_text().rsplit(")", 1)[1].split()[16])


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def test_up_runs_its_background_work_below_its_web_servers_priority(tmp_path, suites):
    """The web server (gunicorn's master and worker) keeps the priority ``up`` was started
    with; the relays, consumers and periodic jobs run ``CLIENTLOOP_BACKGROUND_NICE`` steps
    lower, so a busy web server is answered first."""
    base = os.nice(0)
    suite = start(suites, tmp_path / "var", tmp_path, environment={"CLIENTLOOP_BACKGROUND_NICE": "3"})
    up = suite.process.pid
    threads = [int(tid) for tid in os.listdir(f"/proc/{up}/task")]
    assert len(threads) > 6   # every service's relay, consumer and jobs
    assert {_nice(up, tid) for tid in threads} == {min(base + 3, 19)}
    master, = _children(up)
    worker, = _children(master)
    assert _nice(master) == _nice(worker) == base
    assert {_nice(worker, int(tid)) for tid in os.listdir(f"/proc/{worker}/task")} == {base}
    assert suite.interrupt() == 0, suite.output()


@pytest.mark.parametrize("value", ["20", "-1", "low"])
def test_up_refuses_a_background_priority_out_of_range(tmp_path, value):
    env = {key: setting for key, setting in os.environ.items() if not key.startswith("CLIENTLOOP_")}
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "up", "--port", str(free_port()), "--data-dir",
         str(tmp_path / "var")], cwd=ROOT, env={**env, "CLIENTLOOP_BACKGROUND_NICE": value},
        capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "CLIENTLOOP_BACKGROUND_NICE must be" in done.stderr
