"""Allowed values are findable before a 422: enums in each OpenAPI document, the same values in
the service's documentation, and an interactive API reference served by each service itself.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from services.complaints.domain.vocabulary import (CATEGORIES, CHANNELS, RESOLUTION_CODES,
                                                   SEVERITIES)
from services.registry.domain.clients import ENGAGEMENT_LEVELS, KINDS, LANGUAGES
from services.survey.domain.definition import QuestionType
from shared.config import Settings
from shared.runtime import available_services
from tests.conftest import TEST_SECRET
from tests.shared.test_api_contract import load_service

ROOT = Path(__file__).resolve().parents[2]
SERVICES = available_services()


@pytest.fixture(scope="module")
def reference_settings(tmp_path_factory) -> Settings:
    return Settings.from_env({}, data_dir=tmp_path_factory.mktemp("reference") / "data",
                             secret_key=TEST_SECRET, ratelimit_public="100000 per minute")


@pytest.fixture(scope="module", params=SERVICES)
def service(request, reference_settings):
    loaded = load_service(request.param, reference_settings)
    yield loaded
    loaded.ctx.database.dispose()


def enums(node: Any) -> Iterator[list]:
    if isinstance(node, dict):
        if isinstance(node.get("enum"), list):
            yield node["enum"]
        for value in node.values():
            yield from enums(value)
    elif isinstance(node, list):
        for value in node:
            yield from enums(value)


def enum_values(node: Any, name: str) -> set:
    """Every value any schema under ``node`` allows for a property called ``name``."""
    found: set = set()
    if isinstance(node, dict):
        prop = node.get("properties", {}).get(name)
        if isinstance(prop, dict):
            for values in enums(prop):
                found |= {value for value in values if isinstance(value, str)}
        for value in node.values():
            found |= enum_values(value, name)
    elif isinstance(node, list):
        for value in node:
            found |= enum_values(value, name)
    return found


def flat_strings(values: list) -> Iterator[str]:
    for value in values:
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            yield from flat_strings(value)


# -- enums ----------------------------------------------------------------------------------
VOCABULARIES = {
    "registry": [("ClientIn", "kind", set(KINDS)),
                 ("ClientIn", "category", {c for cs in KINDS.values() for c in cs}),
                 ("ClientIn", "preferred_language", set(LANGUAGES)),
                 ("ClientIn", "engagement_current", set(ENGAGEMENT_LEVELS)),
                 ("ClientIn", "engagement_desired", set(ENGAGEMENT_LEVELS)),
                 ("Client", "kind", set(KINDS)), ("Client", "tier", {"A", "B", "C"})],
    "complaints": [("ComplaintIn", "channel", set(CHANNELS)),
                   ("ComplaintIn", "category", set(CATEGORIES)),
                   ("ComplaintIn", "severity", set(SEVERITIES)),
                   ("ActionIn", "resolution_code", set(RESOLUTION_CODES)),
                   ("Complaint", "status", {"new", "acknowledged", "in_progress", "escalated",
                                            "awaiting_client", "resolved", "closed"})],
    "survey": [("SurveyIn", "type", {t.value for t in QuestionType}),
               ("SurveyIn", "languages", set(LANGUAGES)),
               ("InvitationCreate", "language", set(LANGUAGES)),
               ("Invitation", "state", {"open", "answered", "revoked", "closed", "expired"})],
}


def test_allowed_values_are_enums_in_the_openapi_document(service):
    schemas = service.document["components"]["schemas"]
    failures = []
    for component, name, expected in VOCABULARIES[service.name]:
        found = enum_values(schemas[component], name)
        if found != expected:
            failures.append(f"{component}.{name}: {sorted(found)} != {sorted(expected)}")
    assert not failures, "\n".join(failures)


def test_every_enum_of_the_openapi_document_is_in_the_service_documentation(service):
    doc = (ROOT / "docs" / f"{service.name}.md").read_text()
    values = {value for values in enums(service.document) for value in flat_strings(values)}
    assert values
    missing = sorted(value for value in values if f"`{value}`" not in doc)
    assert not missing, f"docs/{service.name}.md does not list {missing}"


# -- the API reference ----------------------------------------------------------------------
ASSET = re.compile(r'(?:src|href)="([^"]*)"')


@pytest.mark.parametrize("prefix", ["", "/prefix"])
def test_the_api_reference_loads_everything_from_the_service_itself(service, prefix):
    http = service.client()
    base = f"http://localhost{prefix}"
    page = http.get("/docs", base_url=base)
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "http:" not in html and "https:" not in html and "//" not in html.replace("://", "")
    assert "<script>" not in html  # no inline script: the policy allows none
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert f'data-openapi-url="{prefix}/openapi.json"' in html
    assets = ASSET.findall(html)
    assert {path.rsplit("/", 1)[1] for path in assets} >= {
        "swagger-ui.css", "swagger-ui-bundle.js", "api-reference.js"}
    for path in assets:
        assert path.startswith(f"{prefix}/docs/assets/"), path
        served = http.get(path.removeprefix(prefix), base_url=base)
        assert served.status_code == 200, path
        assert served.mimetype in ("text/css", "text/javascript", "image/png"), served.mimetype
        assert len(served.get_data()) > 100, path
    start = http.get("/docs/assets/api-reference.js").get_data(as_text=True)
    assert "validatorUrl: null" in start  # never sends the document to an outside validator


def test_the_reference_is_linked_from_the_service_index(service):
    index = service.client().get("/", headers={"Accept": "application/json"}).get_json()
    assert index["links"]["docs"] == "/docs"


def test_asset_paths_stay_inside_the_assets(service):
    http = service.client()
    for path in ("/docs/assets/../reference.py", "/docs/assets/%2e%2e/reference.py",
                 "/docs/assets/nothing.js"):
        response = http.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "application/problem+json"
