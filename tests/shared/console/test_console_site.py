"""The three services' consoles read as one site: embedded on one port and behind the shipped
nginx gateway, one sign-in holds for every service and the one navigation bar leads to each
service's landing page (complaint queue, client list, survey list)."""
from __future__ import annotations

import re
import threading

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.test import Client

from shared.embedded import wsgi
from shared.migrations import upgrade
from shared.runtime import available_services, service_module
from tests.conftest import make_token
from tests.support.gateway import Gateway, need_nginx

SERVICES = available_services()
NAV = re.compile(r'<nav class="site-nav".*?</nav>', re.DOTALL)
LANDINGS = {"complaints": "/complaints/console/", "registry": "/registry/console/",
            "survey": "/survey/console/"}


def nav_links(page: str) -> list[str]:
    return re.findall(r'<li><a href="([^"]+)"', NAV.search(page).group(0))


def migrate(settings) -> None:
    for service in SERVICES:
        upgrade(service, settings.database_url(service))


def test_embedded_one_sign_in_and_one_navigation_bar_for_every_service(settings):
    migrate(settings)
    site = Client(wsgi(settings))
    english = {"Accept-Language": "en"}
    for service, landing in LANDINGS.items():                  # unsigned: sent to sign-in
        answer = site.get(landing)
        assert answer.status_code == 303
        assert answer.headers["Location"] == f"/{service}/console/sign-in?next={landing}"
    answer = site.post("/registry/console/sign-in", headers=english,
                       data={"token": make_token(settings, "staff", "Wang Fang"),
                             "next": "/complaints/console/"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/complaints/console/"
    page = site.get("/complaints/console/", headers=english)
    assert page.status_code == 200, page.get_data(as_text=True)[:2000]
    body = page.get_data(as_text=True)
    assert "Wang Fang" in body and "Signed in as Wang Fang (staff)." in body
    assert nav_links(body) == list(LANDINGS.values())
    for landing in nav_links(body):
        other = site.get(landing, headers=english)
        assert other.status_code == 200, (landing, other.status_code)
        assert 'aria-current="page"' in NAV.search(other.get_data(as_text=True)).group(0)
        css = re.search(r'<link rel="stylesheet" href="([^"]+)"', other.get_data(as_text=True))
        assert site.get(css.group(1)).status_code == 200


@pytest.fixture
def gateway_site(settings, tmp_path):
    """Every service as ``clientloop serve`` runs it behind the gateway (CLIENTLOOP_PROXY_HOPS=1)
    and the shipped nginx configuration in front of them."""
    need_nginx()
    migrate(settings)
    servers, upstreams = [], {}
    behind = settings.with_overrides(proxy_hops=1)
    for service in SERVICES:
        server = make_server("127.0.0.1", 0, service_module(service).create_app(behind), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        upstreams[service] = [f"127.0.0.1:{server.server_port}"]
    gateway = Gateway(tmp_path / "gateway", upstreams)
    try:
        yield gateway.start()
    finally:
        gateway.stop()
        for server in servers:
            server.shutdown()


def test_behind_the_gateway_the_consoles_are_one_site(gateway_site, settings):
    browser = requests.Session()
    browser.headers["Accept-Language"] = "zh-CN"
    sign_in = browser.get(f"{gateway_site}/survey/console/", timeout=10)
    assert sign_in.url == f"{gateway_site}/survey/console/sign-in?next=/survey/console/"
    assert '<input id="field-token" name="token" type="password"' in sign_in.text
    answer = browser.post(f"{gateway_site}/survey/console/sign-in", timeout=10,
                          data={"token": make_token(settings, "analyst", "李雷"),
                                "next": "/survey/console/"},
                          headers={"Origin": gateway_site}, allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"] == "/survey/console/"
    cookie = next(c for c in browser.cookies if c.name == "clientloop_console")
    assert cookie.path == "/" and cookie.has_nonstandard_attr("HttpOnly")
    page = browser.get(f"{gateway_site}/survey/console/", timeout=10)
    assert page.status_code == 200 and '<html lang="zh-CN">' in page.text and "李雷" in page.text
    assert nav_links(page.text) == list(LANDINGS.values())
    for landing in nav_links(page.text):
        other = browser.get(gateway_site + landing, timeout=10)
        assert other.status_code == 200 and other.url == gateway_site + landing, landing
        assert "李雷" in other.text
    missing = browser.get(f"{gateway_site}/registry/console/no/such/page", timeout=10)
    assert missing.status_code == 404 and missing.headers["Content-Type"].startswith("text/html")
