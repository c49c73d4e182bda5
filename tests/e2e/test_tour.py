"""docs/tour.md is executed: every shell block, in order, against a real ``clientloop up --demo``.

The block marked ``<!-- tour: the test starts this itself … -->`` (``./scripts/up --demo``) is
started here on a free port and a fresh data folder; every other ``sh`` block runs in one bash
session with ``set -euo pipefail``, so a failing command fails the test. What the prose says the
commands print is checked against what they printed.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.e2e.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
TOUR = ROOT / "docs" / "tour.md"
STARTED_BY_TEST = "<!-- tour: the test starts this itself"
MARK = "=== tour block {} ==="


def tour_blocks() -> tuple[list[str], list[str]]:
    """(blocks the test starts itself, blocks the bash session runs), in document order."""
    text = TOUR.read_text(encoding="utf-8")
    started, run = [], []
    for match in re.finditer(r"(<!--[^\n]*-->\n)?```sh\n(.*?)```", text, re.DOTALL):
        marker, body = match.group(1) or "", match.group(2)
        (started if marker.startswith(STARTED_BY_TEST) else run).append(body)
    return started, run


def test_the_tour_has_one_start_and_runnable_blocks():
    started, run = tour_blocks()
    assert started == ["./scripts/up --demo\n"]
    assert len(run) >= 8
    assert "S" + "PEC" not in TOUR.read_text(encoding="utf-8")


def test_every_command_of_the_tour_runs_and_prints_what_the_tour_says(tmp_path):
    _, blocks = tour_blocks()
    port, data = free_port(), tmp_path / "data"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CLIENTLOOP_") or key == "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS"}
    env.update(CLIENTLOOP_DATA_DIR=str(data), CLIENTLOOP_LOG_FORMAT="json")
    workdir = tmp_path / "clone"
    workdir.mkdir()
    (workdir / ".venv").symlink_to(sys.prefix)         # the venv the tests run in
    suite_log = open(tmp_path / "up.log", "wb")
    suite = subprocess.Popen([sys.executable, "-m", "shared.cli", "up", "--demo", "--port", str(port),
                              "--data-dir", str(data)], cwd=ROOT, env=env, stdout=suite_log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, suite)
        script = "set -euo pipefail\n" + "".join(
            f"echo '{MARK.format(number)}'\n{block}" for number, block in enumerate(blocks))
        result = subprocess.run(["bash", "-c", script], cwd=workdir, env={**env, "BASE": base},
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
        printed = _by_block(result.stdout, len(blocks))
    finally:
        suite.terminate()
        try:
            suite.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(suite.pid, 9)
        suite_log.close()

    text = TOUR.read_text(encoding="utf-8")
    assert printed[0] == ["/registry/"]                       # the suite's index
    assert int(printed[1][0]) > 0                              # the token reads the demo clients
    client_line = printed[2][0]
    assert re.fullmatch(r"client [0-9a-f-]{36}", client_line)
    ref, resolve_by = printed[3]
    assert re.fullmatch(r"CMP-\d{6}", ref) and resolve_by.endswith("Z")
    assert printed[4] == ["acknowledged", "acknowledged", "in_progress", "resolved"]
    assert "prints `resolved`" in text
    assert printed[5] == ["resolve"]
    opened, resolved, current = printed[6]
    assert "(high) opened" in opened and "resolved" in resolved
    assert float(current) == 65.0 and "satisfaction is `65.0`" in text
    survey_status, link = printed[7]
    assert survey_status == "active" and f"{base}/survey/s/" in link
    assert float(printed[8][0]) == 90.0 and "scores `90.0`" in text
    feedback_reason, band, nps = printed[9]
    assert feedback_reason and band == "healthy" and float(nps) == 100.0
    assert "(65 + 0.3 × (90 − 65) = 72.5)" in text


def _wait_until_up(base: str, suite: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert suite.poll() is None, "clientloop up exited"
        try:
            if all(requests.get(f"{base}/{name}/healthz", timeout=1).status_code == 200
                   for name in ("registry", "survey", "complaints")):
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError("clientloop up did not answer")


def _by_block(stdout: str, count: int) -> list[list[str]]:
    printed: list[list[str]] = [[] for _ in range(count)]
    current = -1
    for line in stdout.splitlines():
        match = re.fullmatch(r"=== tour block (\d+) ===", line)
        if match:
            current = int(match.group(1))
        elif current >= 0 and line.strip():
            printed[current].append(line.strip())
    return printed
