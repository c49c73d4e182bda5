"""Requests built from the OpenAPI documents alone are accepted: the documents are as strict as
the validation, so a client generator or a fuzzer produces valid requests.

For each main create endpoint, Hypothesis (``hypothesis-jsonschema``) generates bodies from the
request schema in the service's ``/openapi.json`` and sends them. Only what a schema cannot know
is filled in: the ids of clients that exist. Every answer must be a 201 or a 422, never a 500;
a 422 must be for a rule the document states in prose because JSON Schema cannot express it
(keys unique within a list), never for a schema reason — the share of those is 0 (at most
:data:`MAX_SCHEMA_REFUSALS` is tolerated).
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis_jsonschema import from_schema

from shared.config import Settings
from shared.runtime import available_services
from tests.complaints.complaints_helpers import register_client
from tests.conftest import TEST_SECRET, auth
from tests.shared.test_api_contract import load_service, token
from tests.survey.survey_support import active_survey, learn_client

SERVICES = available_services()
MAX_SCHEMA_REFUSALS = 0.02
#: Rules JSON Schema cannot state (unique keys within a list): said in the descriptions.
PROSE_RULES = ("already uses the key", "is listed twice")
#: OpenAPI-only keywords with no meaning for generation.
DOC_ONLY = {"nullable", "example", "examples", "description", "default", "title", "readOnly",
            "writeOnly", "discriminator", "deprecated", "externalDocs", "xml"}


def json_schema(node: Any, components: dict) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema (draft 7): ``$ref`` inlined, ``nullable`` → a
    ``null`` type, a boolean ``exclusiveMinimum`` → a number. ``oneOf`` becomes ``anyOf``: the
    documents' variants exclude each other by an enum, and ``anyOf`` is much faster to generate."""
    if isinstance(node, list):
        return [json_schema(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return json_schema(components[node["$ref"].rsplit("/", 1)[1]], components)
    converted = {("anyOf" if key == "oneOf" else key): json_schema(value, components)
                 for key, value in node.items() if key not in DOC_ONLY and key != "properties"}
    if "properties" in node:  # names there are fields (a "title", a "description"), kept
        converted["properties"] = {name: json_schema(value, components)
                                   for name, value in node["properties"].items()}
    if node.get("exclusiveMinimum") is True:
        converted["exclusiveMinimum"] = converted.pop("minimum")
    if node.get("nullable"):
        if isinstance(converted.get("type"), str):
            converted["type"] = [converted["type"], "null"]
        if "enum" in converted and None not in converted["enum"]:
            converted["enum"] = [*converted["enum"], None]
    return converted


def request_schema(service, path: str) -> dict:
    document = service.document
    body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return json_schema(body["schema"], document["components"]["schemas"])


@pytest.fixture(scope="module")
def fuzz_settings(tmp_path_factory) -> Settings:
    return Settings.from_env({}, data_dir=tmp_path_factory.mktemp("fuzz") / "data",
                             secret_key=TEST_SECRET, ratelimit_public="100000 per minute")


@pytest.fixture(scope="module")
def loaded(fuzz_settings):
    services = {name: load_service(name, fuzz_settings) for name in SERVICES}
    yield services
    for service in services.values():
        service.ctx.database.dispose()


def send_generated(service, path: str, url: str, *, examples: int,
                   existing: Callable[[Any], Any] = lambda body: body) -> Counter:
    """Send ``examples`` generated bodies; the tally of outcomes (failures listed apart)."""
    http = service.client()
    headers = auth(token("admin"))
    tally: Counter = Counter()
    failures: list[str] = []

    @hypothesis_settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(HealthCheck))
    @given(from_schema(request_schema(service, path)))
    def send(body):
        response = http.post(url, json=existing(body), headers=headers)
        if response.status_code == 201:
            tally["created"] += 1
            return
        problem = response.get_json(silent=True) or {}
        messages = [message for items in (problem.get("errors") or {}).values()
                    for message in items]
        if response.status_code == 422 and messages and all(
                any(rule in message for rule in PROSE_RULES) for message in messages):
            tally["refused by a rule stated in prose"] += 1
        elif response.status_code == 422:
            tally["refused for a schema reason"] += 1
            failures.append(f"422 {problem.get('errors')} for {body!r:.300}")
        else:
            tally[f"status {response.status_code}"] += 1
            failures.append(f"{response.status_code} {response.get_data(as_text=True)[:300]} "
                            f"for {body!r:.300}")

    send()
    print(f"POST {path}: {dict(tally)}")  # the figures, shown with -s
    total = sum(tally.values())
    assert total >= examples // 2, tally
    unexpected = total - tally["created"] - tally["refused by a rule stated in prose"] \
        - tally["refused for a schema reason"]
    assert unexpected == 0, "\n".join(failures[:10])  # never a 500 (nor a 400, 409, …)
    share = tally["refused for a schema reason"] / total
    assert share <= MAX_SCHEMA_REFUSALS, f"{share:.0%} refused: {tally}\n" + "\n".join(failures[:10])
    return tally


@pytest.mark.skipif("registry" not in SERVICES, reason="no registry service")
def test_generated_clients_are_registered(loaded):
    tally = send_generated(loaded["registry"], "/api/v1/clients", "/api/v1/clients", examples=100)
    assert tally["created"] == sum(tally.values()), tally


@pytest.mark.skipif("complaints" not in SERVICES, reason="no complaints service")
def test_generated_complaints_are_opened(loaded):
    complaints = loaded["complaints"]
    client_id = register_client(complaints.ctx)

    def existing(body):
        return {**body, "client_id": client_id} if "client_id" in body else body

    tally = send_generated(complaints, "/api/v1/complaints", "/api/v1/complaints", examples=100,
                           existing=existing)
    assert tally["created"] == sum(tally.values()), tally


@pytest.mark.skipif("survey" not in SERVICES, reason="no survey service")
def test_generated_surveys_are_created_unless_keys_repeat(loaded):
    tally = send_generated(loaded["survey"], "/api/v1/surveys", "/api/v1/surveys", examples=50)
    assert tally["created"] >= sum(tally.values()) / 2, tally


@pytest.mark.skipif("survey" not in SERVICES, reason="no survey service")
def test_generated_invitations_are_created(loaded):
    survey = loaded["survey"]
    headers = auth(token("admin"))
    offered = active_survey(survey.client(), headers)

    def existing(body):
        """Clients the service knows, each invited once (a second open invitation is a 409)."""
        body = dict(body)
        if "client_id" in body:
            body["client_id"] = learn_client(survey.ctx)
        if "client_ids" in body:
            body["client_ids"] = [learn_client(survey.ctx) for _ in body["client_ids"][:3]]
        return body

    path = "/api/v1/surveys/{survey_id}/invitations"
    tally = send_generated(survey, path, path.format(survey_id=offered["id"]), examples=100,
                           existing=existing)
    assert tally["created"] == sum(tally.values()), tally
