"""Every text the console shows, in the shared part and in each service's pages, has its
Chinese: each string given to ``_``/``gettext``/``ngettext`` (or marked ``N_``) in a console
template or a service's web module is in a registered zh-CN catalogue."""
from __future__ import annotations

from pathlib import Path

import pytest

from shared.runtime import available_services, service_module
from shared.web.console.catalogue import missing_translations, texts_in_python, texts_in_templates

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("service", available_services())
def test_every_text_of_a_services_console_has_chinese(settings, service):
    service_module(service).create_app(settings)        # registers the service's catalogue
    web = ROOT / "services" / service / "web"
    texts = texts_in_templates(web / "templates" / "console") | texts_in_python(sorted(web.glob("*.py")))
    assert texts, f"no console texts found for {service}"
    assert missing_translations(texts, service=service) == []
