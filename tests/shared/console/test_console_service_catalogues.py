"""Each service's console pages speak from its own catalogue, then the shared one: where the three
services run in one process (the embedded default ``clientloop up`` serves), two services that
translate the same English text differently each show their own words on their own pages."""
from __future__ import annotations

import importlib
import re

from werkzeug.test import Client

from shared.embedded import wsgi
from shared.migrations import upgrade
from shared.runtime import available_services
from shared.web.console.messages import MESSAGES as SHARED_MESSAGES
from tests.conftest import make_token

SERVICES = available_services()
#: The same English text, "Status" (the filter above each service's list), in each service's
#: words: a complaint's, a client's and a survey's status.
OWN_WORDS = {"complaints": "投诉状态", "registry": "客户状态", "survey": "问卷状态"}
CHINESE = {"Accept-Language": "zh-CN"}
STATUS_LABEL = re.compile(r'<label for="field-status">([^<]*)</label>')


def catalogue_of(service: str) -> dict[str, str]:
    return importlib.import_module(f"services.{service}.web.console_messages").MESSAGES["zh-CN"]


def test_the_same_text_shows_each_services_own_translation_on_its_own_pages(settings, monkeypatch):
    for service in SERVICES:
        assert "Status" in catalogue_of(service)            # each service translates it itself
        monkeypatch.setitem(catalogue_of(service), "Status", OWN_WORDS[service])
    for service in SERVICES:
        upgrade(service, settings.database_url(service))
    site = Client(wsgi(settings))                            # all three apps, one process
    signed_in = site.post("/registry/console/sign-in", headers=CHINESE,
                          data={"token": make_token(settings, "staff")})
    assert signed_in.status_code == 303

    for service in SERVICES:
        page = site.get(f"/{service}/console/", headers=CHINESE)
        assert page.status_code == 200, (service, page.status_code)
        body = page.get_data(as_text=True)
        assert STATUS_LABEL.findall(body) == [OWN_WORDS[service]], service
        others = [word for other, word in OWN_WORDS.items() if other != service]
        assert not any(word in body for word in others), service
        # a text no service translates itself comes from the shared catalogue on every page
        assert SHARED_MESSAGES["zh-CN"]["Sign out"] in body
