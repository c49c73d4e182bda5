"""The whole suite as ``clientloop up`` runs it, and the means to use its staff console as a
person does (tests/e2e/test_console_walk.py).

    with running_suite(folder) as suite:         # gunicorn, SQLite, the filesystem bus
        api = Api(suite.base, suite.staff)        # what other systems do, with a bearer token
        client = api.client("华东物流有限公司")
        ...
        press(page, words("complaints", "Acknowledge"))   # a button, by the name it shows

Pages are driven by their roles and the names they show in the page's language
(:class:`Words`: English keys translated by the services' own catalogues).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import requests

from tests.conftest import TEST_SECRET
from tests.e2e.harness import free_port
from tests.support.console import axe_check

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("complaints", "registry", "survey")
SCRIPT, IMAGE = "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'
HOSTILE = SCRIPT + IMAGE
#: Counts what a hostile string could have made of a page: elements and handlers it injected.
INJECTED = """() => document.querySelectorAll('img[src="x"], [onerror]').length
    + [...document.scripts].filter(script => script.textContent.includes('alert(1)')).length"""


# -- the words the pages show -----------------------------------------------------------------
class Words:
    """A service's page texts in ``language``: ``words("complaints", "Acknowledge")``."""

    def __init__(self, language: str):
        from services.complaints.web.console_messages import MESSAGES as complaints
        from services.registry.web.console_messages import MESSAGES as registry
        from services.survey.web.console_messages import MESSAGES as survey
        from shared.web.console.messages import MESSAGES as shared
        self.language = language
        self.catalogues = {
            name: {**shared["zh-CN"], **messages["zh-CN"]}
            for name, messages in (("complaints", complaints), ("registry", registry),
                                   ("survey", survey))}

    def __call__(self, service: str, text: str) -> str:
        return text if self.language == "en" else self.catalogues[service].get(text, text)

    def of(self, service: str) -> Callable[[str], str]:
        return lambda text: self(service, text)


# -- the suite --------------------------------------------------------------------------------
@dataclass
class Suite:
    base: str
    data: Path
    env: dict[str, str]
    staff: str = ""
    analyst: str = ""

    def cli(self, *args: str) -> str:
        """``clientloop ARGS --data-dir DATA`` on this suite's folder; what it printed."""
        result = subprocess.run([sys.executable, "-m", "shared.cli", *args, "--data-dir",
                                 str(self.data)], cwd=ROOT, env=self.env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()


@contextmanager
def running_suite(folder: Path) -> Iterator[Suite]:
    """``clientloop up`` on a free port and a fresh data folder, with a staff token (王芳) and
    an analyst token (赵分析) made by ``clientloop token create``; stopped on exit."""
    port, data = free_port(), folder / "data"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CLIENTLOOP_") or key == "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS"}
    env.update(CLIENTLOOP_DATA_DIR=str(data), CLIENTLOOP_SECRET_KEY=TEST_SECRET,
               CLIENTLOOP_LOG_FORMAT="json", CLIENTLOOP_LOG_LEVEL="WARNING")
    log = open(folder / "up.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "shared.cli", "up", "--port", str(port),
                                "--data-dir", str(data)], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    suite = Suite(f"http://127.0.0.1:{port}", data, env)
    try:
        _wait_until_up(suite.base, process)
        suite.staff = suite.cli("token", "create", "--role", "staff", "--name", "王芳")
        suite.analyst = suite.cli("token", "create", "--role", "analyst", "--name", "赵分析")
        yield suite
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
        log.close()


def _wait_until_up(base: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "clientloop up exited"
        try:
            if all(requests.get(f"{base}/{name}/healthz", timeout=1).status_code == 200
                   for name in SERVICES):
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError("clientloop up did not answer")


# -- the API: what other systems (and the tour) do --------------------------------------------
def both(text: str) -> dict[str, str]:
    return {"zh-CN": text, "en": text}


class Api:
    def __init__(self, base: str, token: str):
        self.base = base
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str) -> dict:
        response = self.http.get(self.base + path, timeout=10)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        return response.json()

    def post(self, path: str, body: dict | None = None, *, status: int = 201) -> dict:
        """POST, retried while the service has not learnt the client yet (422 + Retry-After)."""
        deadline = time.monotonic() + 30
        while True:
            response = self.http.post(self.base + path, json=body, timeout=10)
            if not (response.status_code == 422 and "Retry-After" in response.headers
                    and time.monotonic() < deadline):
                break
            time.sleep(0.3)
        assert response.status_code == status, (path, response.status_code, response.text[:500])
        return response.json()

    def client(self, name: str, **fields) -> dict:
        return self.post("/registry/api/v1/clients", {
            "name": name, "kind": "external", "category": "enterprise",
            "annual_value": {"amount": "250000.00", "currency": "CNY"},
            "contacts": [{"name": "李娜", "email": "li.na@example.com"}],
            "preferred_language": "zh-CN", "power": 4, "interest": 4, **fields})

    def complaint(self, client_id: str, title: str) -> dict:
        """A ``high`` complaint: −10 on opening, +5 back when resolved within its SLA."""
        return self.post("/complaints/api/v1/complaints", {
            "client_id": client_id, "channel": "phone", "category": "delivery",
            "severity": "high", "title": title, "description": "三月的订单还没有到。"})

    def survey(self, title: str, *, question: str = "您向同事推荐我们的可能性有多大？",
               option: str | None = None, intro: str | None = None,
               publish: bool = True) -> dict:
        """A survey in both languages: NPS (``recommend``), a comment (``comment``) and, with
        ``option``, a choice (``value``) whose first option is labelled ``option``."""
        questions = [{"key": "recommend", "type": "nps", "required": True, "text": both(question)},
                     {"key": "comment", "type": "text", "text": both("还有什么想说的？")}]
        if option is not None:
            questions.append({"key": "value", "type": "single_choice", "text": both(question),
                              "options": [{"key": "poor", "score": 0, "label": both(option)},
                                          {"key": "good", "score": 100, "label": both("好")}]})
        definition = {"title": both(title), "languages": ["zh-CN", "en"], "questions": questions}
        if intro is not None:
            definition["intro"] = both(intro)
        survey = self.post("/survey/api/v1/surveys", definition)
        if publish:
            self.post(f"/survey/api/v1/surveys/{survey['id']}/publish", status=200)
        return survey


# -- the browser ------------------------------------------------------------------------------
def checked(page, where: str, language: str) -> None:
    """The page is in ``language`` and axe-core finds no serious or critical violation."""
    assert page.locator("html").get_attribute("lang") == language, f"{where}: {page.url}"
    violations = axe_check(page)
    assert violations == [], f"{where} ({page.url}): {violations}"


def press(scope, name: str) -> None:
    """Click the button named ``name`` in ``scope`` (a page, a form) and wait for the page
    that follows (a POST's redirect)."""
    page = getattr(scope, "page", scope)
    with page.expect_navigation():
        scope.get_by_role("button", name=name, exact=True).click()


def follow(page, name: str, *, scope=None) -> None:
    """Follow the (first) link named ``name`` in ``scope``."""
    with page.expect_navigation():
        (scope or page).get_by_role("link", name=name, exact=True).first.click()


def flash_says(page, text: str) -> None:
    flashes = page.locator(".flash").all_inner_texts()
    assert any(text in message for message in flashes), (text, flashes)


def fact(scope, term: str) -> str:
    """What a definition list in ``scope`` says for ``term`` ("" if none has it)."""
    term_cell = scope.locator("dt").filter(has_text=re.compile("^" + re.escape(term) + "$"))
    if term_cell.count() == 0:
        return ""
    return term_cell.first.locator("xpath=following-sibling::dd[1]").inner_text().strip()


def main_text(page, limit: int = 1500) -> str:
    return page.locator("main").inner_text()[:limit]


def eventually(check: Callable[[], bool], page, what: str, timeout: float = 20.0) -> None:
    """Reload ``page`` until ``check()`` holds (services learn from events, a moment late)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: {page.url}\n{main_text(page)}"
        time.sleep(0.5)
        page.reload()


def search_until_found(page, field: str, text: str, button: str, found,
                       timeout: float = 20.0) -> None:
    """Search for ``text`` until ``found`` (a locator) is on the page: the survey and the
    complaints services learn a new client from the registry's events, a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        page.get_by_label(field).fill(text)
        press(page, button)
        if found.count() > 0:
            return
        assert time.monotonic() < deadline, f"{text!r} not found:\n{main_text(page)}"
        time.sleep(0.5)


def post_from_page(page, url: str, fields: dict[str, str]):
    """Submit a form the page did not offer, built in the page as a forger would; the
    response of the navigation it makes."""
    with page.expect_navigation() as navigation:
        page.evaluate("""([url, fields]) => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = url;
            for (const [name, value] of Object.entries(fields)) {
                const input = document.createElement('input');
                input.type = 'hidden';
                input.name = name;
                input.value = value;
                form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
        }""", [url, fields])
    return navigation.value


def shown_as_text(page, where: str, texts: list[str]) -> None:
    """Each of ``texts`` is visible, literally, on the page, and no markup was injected."""
    assert page.evaluate(INJECTED) == 0, f"{where}: markup injected"
    visible = page.locator("body").inner_text()
    missing = [text for text in texts if text not in visible]
    assert not missing, f"{where} does not show {missing}:\n{visible[:3000]}"
