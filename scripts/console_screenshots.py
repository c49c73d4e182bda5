"""Screenshots of the staff console's main pages for docs/console.md (run by
``scripts/console-screenshots``).

Starts ``clientloop up --demo`` on a fresh temporary data folder, waits for the demo data, signs
in with the admin token it prints, and captures each page in zh-CN and en at 1366×768 and
390×844 into ``docs/console/<page>-<language>-<device>.png``. Needs Debian's chromium and, for
the Chinese pages, a CJK font (``apt-get install fonts-noto-cjk``).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.console import DESKTOP, PHONE, new_browser, sign_in  # noqa: E402

OUT = ROOT / "docs" / "console"
LANGUAGES = ("zh-CN", "en")
DEVICES = {"desktop": DESKTOP, "phone": PHONE}
START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Suite:
    """``clientloop up --demo`` in the background, its output collected."""

    def __init__(self, data_dir: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("CLIENTLOOP_")}
        env["CLIENTLOOP_LOG_LEVEL"] = "WARNING"
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "up", "--demo", "--port", self.url.rsplit(":", 1)[1],
             "--data-dir", str(data_dir)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def token(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("clientloop up stopped:\n" + "\n".join(self.lines))
            for index, line in enumerate(self.lines[:-1]):
                if line.startswith("Admin token"):
                    return self.lines[index + 1].strip()
            time.sleep(0.3)
        raise SystemExit("clientloop up printed no admin token in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def first_id(suite: Suite, token: str, path: str, *, wait_s: float = 60) -> str | None:
    """The id of the first item the API lists at ``path`` (the demo loads within seconds)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        answer = requests.get(suite.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        items = answer.json().get("items") if answer.ok else None
        if items:
            return items[0]["id"]
        time.sleep(1)
    return None


def pages(suite: Suite, token: str) -> dict[str, str]:
    complaint = first_id(suite, token, "/complaints/api/v1/complaints")
    client = first_id(suite, token, "/registry/api/v1/clients")
    survey = first_id(suite, token, "/survey/api/v1/surveys")
    found = {
        "complaints-queue": "/complaints/console/",
        "complaint": complaint and f"/complaints/console/complaints/{complaint}",
        "complaints-new": "/complaints/console/new",
        "complaints-analysis": "/complaints/console/analysis",
        "clients": "/registry/console/",
        "client": client and f"/registry/console/clients/{client}",
        "portfolio": "/registry/console/portfolio",
        "surveys": "/survey/console/",
        "survey": survey and f"/survey/console/surveys/{survey}",
        "survey-invite": survey and f"/survey/console/surveys/{survey}/invite",
        "survey-results": survey and f"/survey/console/surveys/{survey}/results",
    }
    return {name: path for name, path in found.items() if path}


def capture(suite: Suite, token: str) -> list[Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    targets = pages(suite, token)
    written: list[Path] = []
    with new_browser() as browser:
        for language in LANGUAGES:
            for device, options in DEVICES.items():
                context = browser.new_context(locale=language, **options,
                                              extra_http_headers={"Accept-Language": language})
                page = context.new_page()
                page.goto(f"{suite.url}/registry/console/sign-in")
                written.append(shot(page, "sign-in", language, device))
                sign_in(page, f"{suite.url}/registry", token)
                for name, path in targets.items():
                    answer = page.goto(suite.url + path)
                    if answer is None or answer.status != 200:
                        print(f"  skipped {name}: {path} answered "
                              f"{answer.status if answer else 'nothing'}", file=sys.stderr)
                        continue
                    written.append(shot(page, name, language, device))
                context.close()
    return written


def shot(page, name: str, language: str, device: str) -> Path:
    path = OUT / f"{name}-{language}-{device}.png"
    page.screenshot(path=str(path), full_page=False)
    print(f"  {path.relative_to(ROOT)}")
    return path


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="clientloop-screenshots-") as folder:
        suite = Suite(Path(folder) / "var")
        try:
            token = suite.token()
            written = capture(suite, token)
        finally:
            suite.stop()
    print(f"{len(written)} screenshots in {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
