"""What ``/`` and each service's prefix answer, in the embedded default and behind the gateway.

``/`` lists the prefixes; each prefix answers with an index of what its service serves, whose
every link works; an unknown path under a prefix, or outside any, is a problem-details 404
that says where to look — never Werkzeug's text.
"""
from __future__ import annotations

import json
import threading
from html.parser import HTMLParser

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.test import Client

from shared.embedded import wsgi
from shared.migrations import upgrade
from shared.runtime import available_services, service_module
from tests.support.gateway import Gateway

SERVICES = available_services()
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
WERKZEUG_404 = "The requested URL was not found on the server"


@pytest.fixture
def suite(settings) -> Client:
    for service in SERVICES:
        upgrade(service, settings.database_url(service))
    return Client(wsgi(settings))


def problem_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/problem+json"
    body = json.loads(response.get_data(as_text=True))
    assert body["status"] == status and WERKZEUG_404 not in body["detail"]
    return body


def test_the_root_lists_each_prefix_and_each_answers_with_its_index(suite):
    root = suite.get("/")
    assert root.status_code == 200
    listed = root.get_json()["services"]
    assert listed == {service: f"/{service}/" for service in SERVICES}
    for service, prefix in listed.items():
        index = suite.get(prefix)
        assert index.status_code == 200 and index.mimetype == "application/json"
        body = index.get_json()
        assert body["name"] == service and body["title"] and body["description"]
        links = body["links"]
        assert links["self"] == prefix
        assert links["openapi"] == f"{prefix}openapi.json" and links["api"] == f"{prefix}api/v1/"
        for name in ("openapi", "health", "ready") + tuple(n for n in ("docs", "console") if n in links):
            answer = suite.get(links[name], follow_redirects=True)
            assert answer.status_code == 200, (name, links[name], answer.status_code)
        assert suite.get(links["openapi"]).get_json()["openapi"].startswith("3.")


def test_a_prefix_without_its_slash_leads_to_the_index(suite):
    for service in SERVICES:
        answer = suite.get(f"/{service}", follow_redirects=True)
        assert answer.status_code == 200 and answer.get_json()["name"] == service
        assert answer.request.path == f"/{service}/"


def test_a_browser_gets_the_index_as_a_page_with_working_links(suite):
    for service in SERVICES:
        page = suite.get(f"/{service}/", headers={"Accept": BROWSER_ACCEPT})
        assert page.status_code == 200 and page.mimetype == "text/html"
        assert "Accept" in page.headers["Vary"]
        links = _hrefs(page.get_data(as_text=True))
        assert f"/{service}/openapi.json" in links
        for href in links:
            assert suite.get(href, follow_redirects=True).status_code == 200, href


def _hrefs(html: str) -> list[str]:
    found: list[str] = []

    class Links(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "a":
                found.append(dict(attrs)["href"])

    Links().feed(html)
    return found


@pytest.mark.parametrize("path", ["/registry/nothing", "/survey/nothing/here", "/complaints/api/v2/",
                                  "/registry/api/v1/nothing"])
def test_an_unknown_path_under_a_prefix_is_a_problem_saying_where_to_look(suite, path):
    service = path.split("/")[1]
    body = problem_of(suite.get(path), 404)
    assert body["detail"] == f"Nothing at this path; GET /{service}/ lists what this service serves."


@pytest.mark.parametrize("path", ["/nowhere", "/registryx/", "/static/survey.css"])
def test_a_path_outside_every_prefix_is_a_problem_naming_the_prefixes(suite, path):
    body = problem_of(suite.get(path), 404)
    for service in SERVICES:
        assert f"/{service}/" in body["detail"]


# -- behind the production gateway ----------------------------------------------------------------
@pytest.fixture
def gateway(settings, tmp_path):
    """The shipped nginx gateway in front of the registry, as ``clientloop serve`` runs it
    behind one (``CLIENTLOOP_PROXY_HOPS=1``); the other services have no upstream."""
    upgrade("registry", settings.database_url("registry"))
    app = service_module("registry").create_app(settings.with_overrides(proxy_hops=1))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    gateway = Gateway(tmp_path / "gateway", {"registry": [f"127.0.0.1:{server.server_port}"]})
    try:
        yield gateway.start()
    finally:
        gateway.stop()
        server.shutdown()


def test_behind_the_gateway_the_root_and_the_prefixes_answer_the_same(gateway, suite):
    root = requests.get(f"{gateway}/", timeout=10)
    assert root.status_code == 200 and root.headers["Content-Type"].startswith("application/json")
    assert root.json() == suite.get("/").get_json()

    index = requests.get(f"{gateway}/registry", timeout=10)        # redirected to /registry/
    assert index.status_code == 200 and index.url == f"{gateway}/registry/", index.history
    assert index.json() == suite.get("/registry/").get_json()       # the same links, prefixed
    for name in ("openapi", "health", "ready"):
        assert requests.get(gateway + index.json()["links"][name], timeout=10).status_code == 200

    unknown = requests.get(f"{gateway}/registry/nothing", timeout=10)
    assert unknown.status_code == 404 and unknown.headers["Content-Type"] == "application/problem+json"
    assert unknown.json()["detail"] == "Nothing at this path; GET /registry/ lists what this service serves."
    outside = requests.get(f"{gateway}/nowhere", timeout=10)
    assert outside.status_code == 404 and outside.headers["Content-Type"] == "application/problem+json"
