"""``clientloop up`` as a newcomer starts it: refused at once when it cannot run, readable on a
terminal, its banner last.

* a port in use, or an address that is not this machine's: one line on stderr and a non-zero
  exit within two seconds, before anything is migrated, made or printed (no banner, no token);
* a second ``up`` on a data folder another ``up`` runs from: refused, naming the process;
* on a terminal, short text lines (not JSON), then the banner, last and set off; without a
  terminal every line is JSON.
"""
from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from shared.cli import main
from shared.runtime import available_services
from shared.startup import LOCK_FILE, RULE
from tests.e2e.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
REFUSED_WITHIN_S = 2.0
START_TIMEOUT_S = 60


def clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CLIENTLOOP_") or key == "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS"}
    return {**env, **extra}


def up_command(port: int, data_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "shared.cli", "up", "--port", str(port), "--data-dir", str(data_dir),
            *extra]


def refused(command: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``up`` expecting a refusal; one that starts after all is stopped with its web server."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
    elapsed = time.monotonic() - started
    if _group_alive(process.pid):   # what a start that should not have happened left running
        os.killpg(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(command, process.returncode, out, err), elapsed


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def assert_refused_in_one_line(result: subprocess.CompletedProcess, elapsed: float, *needles: str):
    assert result.returncode != 0, result.stdout
    assert elapsed < REFUSED_WITHIN_S, f"refused after {elapsed:.2f} s"
    assert result.stdout == ""                                   # no banner, no token
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clientloop: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def taken_port():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_port_in_use_is_refused_in_one_line_before_anything_is_made(tmp_path, taken_port):
    data_dir = tmp_path / "var"
    result, elapsed = refused(up_command(taken_port, data_dir))
    assert_refused_in_one_line(result, elapsed, f"127.0.0.1:{taken_port}", "in use", "--port")
    assert not data_dir.exists()                                 # nothing migrated, no key made


def test_an_address_that_is_not_this_machines_is_refused(tmp_path):
    data_dir = tmp_path / "var"
    # 192.0.2.1 is a documentation address (TEST-NET-1): binding it fails locally, nothing is sent
    result, elapsed = refused(up_command(free_port(), data_dir, "--host", "192.0.2.1"))
    assert_refused_in_one_line(result, elapsed, "192.0.2.1", "not one of this machine's", "--host")
    assert not data_dir.exists()


def test_a_host_that_does_not_resolve_is_refused(tmp_path, monkeypatch, capsys):
    def no_such_host(*_args, **_kwargs):   # the resolver's answer, without asking a DNS server
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    data_dir = tmp_path / "var"
    assert main(["up", "--host", "clientloop.invalid", "--port", "8000", "--data-dir", str(data_dir)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == ("clientloop: cannot listen on clientloop.invalid:8000: the host "
                           "'clientloop.invalid' does not resolve (Name or service not known); use "
                           "--host with an address of this machine, such as 127.0.0.1")
    assert not data_dir.exists()


# -- one data folder, one suite ---------------------------------------------------------------
def wait_answering(url: str, process: subprocess.Popen, errors: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, errors.read_text(errors="replace")[-4000:]
        try:
            if requests.get(f"{url}/registry/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(errors.read_text(errors="replace")[-4000:])


def test_a_second_up_on_the_same_data_folder_is_refused_naming_the_first(tmp_path):
    data_dir, port = tmp_path / "var", free_port()
    errors = tmp_path / "first.err"
    with errors.open("wb") as stderr:
        first = subprocess.Popen(up_command(port, data_dir), cwd=ROOT, stdout=subprocess.DEVNULL,
                                 stderr=stderr, env=clean_env(CLIENTLOOP_LOG_LEVEL="INFO"))
    try:
        wait_answering(f"http://127.0.0.1:{port}", first, errors)
        other_port = free_port()
        result, elapsed = refused(up_command(other_port, data_dir))
        assert_refused_in_one_line(result, elapsed, str(data_dir), f"process {first.pid}",
                                   f"http://127.0.0.1:{port}", "--data-dir")
        with pytest.raises(OSError):                         # the second never listened
            socket.create_connection(("127.0.0.1", other_port), timeout=1).close()
        assert requests.get(f"http://127.0.0.1:{port}/registry/healthz", timeout=5).status_code == 200
        holder = json.loads((data_dir / LOCK_FILE).read_text())
        assert holder["pid"] == first.pid and holder["url"] == f"http://127.0.0.1:{port}"
    finally:
        first.send_signal(signal.SIGINT)
        assert first.wait(30) == 0
    # Not on a terminal: every line is JSON, the web server's included, and only the first
    # suite's relays ever published.
    lines = [json.loads(line) for line in errors.read_text().splitlines()]
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    active = [line["service"] for line in lines if line["message"] == "relay is the active publisher"]
    assert sorted(active) == sorted(available_services())


# -- on a terminal ------------------------------------------------------------------------------
class Terminal:
    """``up`` with stdout and stderr on one pseudo-terminal, read as a person would see it."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=slave, stdout=slave,
                                        stderr=slave, start_new_session=True)
        os.close(slave)
        self.output = b""

    def read(self, seconds: float, until: str | None = None) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not (until and until in self.text()):
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:   # the other end is closed: the process has ended
                    break
                if not chunk:
                    break
                self.output += chunk
        return self.text()

    def text(self) -> str:
        return self.output.decode(errors="replace").replace("\r\n", "\n")

    def close(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        os.close(self.master)
        return self.process.returncode


def test_on_a_terminal_up_prints_short_lines_then_the_banner_last(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    terminal = Terminal(up_command(port, tmp_path / "var"), clean_env(TERM="xterm"))
    try:
        end_of_banner = f"Press Ctrl-C to stop.\n{RULE}\n"
        text = terminal.read(START_TIMEOUT_S, until=end_of_banner)
        assert end_of_banner in text, text[-4000:]
        text = terminal.read(1.5)                      # the start-up is over: nothing follows
        before, banner = text.split(f"\n{RULE}\n", 1)
        assert banner.rstrip("\n").endswith(end_of_banner.rstrip("\n")), f"printed after the banner:\n{text}"

        log_lines = [line for line in before.splitlines() if line.strip()]
        assert log_lines and not any(line.lstrip().startswith("{") for line in log_lines), before
        assert all(re.match(r"\d\d:\d\d:\d\d ", line) for line in log_lines), before
        for service in available_services():
            assert f"{service}: relay started" in before

        assert f"ClientLoop is running on {url}/" in banner
        for service in available_services():
            assert f"{url}/{service}/api/v1/" in banner
        assert "<" not in banner                       # no placeholder to fill in
        lines = banner.splitlines()
        token = lines[lines.index("Admin token (valid 30 days):") + 1]
        assert f"curl -H 'Authorization: Bearer {token}' {url}/registry/api/v1/clients" in banner
        answer = requests.get(f"{url}/registry/api/v1/clients",
                              headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        access = terminal.read(5, until="GET /registry/api/v1/clients 200")
        assert re.search(r"\d\d:\d\d:\d\d GET /registry/api/v1/clients 200 [\d.]+ ms by admin", access)
    finally:
        code = terminal.close()
    assert code == 0, terminal.text()[-4000:]


def test_on_a_terminal_the_demo_prints_nothing_after_the_banner_while_its_history_is_applied(
        tmp_path):
    """The demo's year of complaints reaches the other services over the bus after the banner;
    the terminal stays quiet (the JSON logs keep every line)."""
    terminal = Terminal(up_command(free_port(), tmp_path / "var", "--demo"),
                        clean_env(TERM="xterm"))
    try:
        end_of_banner = f"Press Ctrl-C to stop.\n{RULE}\n"
        text = terminal.read(START_TIMEOUT_S, until=end_of_banner)
        assert end_of_banner in text, text[-4000:]
        text = terminal.read(25)   # the demo's warm-up: its jobs run every 2 s for 30 s
        after = [line for line in text.split(end_of_banner, 1)[1].splitlines() if line.strip()]
        assert len(after) <= 5, "printed after the banner:\n" + "\n".join(after[:20])
    finally:
        code = terminal.close()
    assert code == 0, terminal.text()[-4000:]
