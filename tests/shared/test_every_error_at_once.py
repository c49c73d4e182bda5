"""A body with several independent errors is answered with all of them in one 422.

Bodies are checked in layers — shape by the schema, then the use case's rules (a category of
the kind, the installation's currency, blank texts, known clients, the survey's languages) — and
each layer used to stop the answer: a bad ``kind`` hid a bad currency until it was fixed. Every
test here sends errors from different layers together and expects every one, by dotted path.
"""
from __future__ import annotations

import uuid

import pytest

from shared.migrations import upgrade
from shared.runtime import service_module
from tests.complaints.complaints_helpers import register_client as complaints_client
from tests.conftest import auth
from tests.survey.survey_support import active_survey, create_survey, learn_client


def _service(name, settings):
    upgrade(name, settings.database_url(name))
    module = service_module(name)
    ctx = module.build_context(settings)
    return module.create_app(context=ctx).test_client(), ctx


@pytest.fixture
def registry(settings):
    http, ctx = _service("registry", settings)
    yield http
    ctx.database.dispose()


@pytest.fixture
def complaints(settings):
    http, ctx = _service("complaints", settings)
    yield http, ctx
    ctx.database.dispose()


@pytest.fixture
def survey(settings):
    http, ctx = _service("survey", settings.with_overrides(ratelimit_public="1000 per minute"))
    yield http, ctx
    ctx.database.dispose()


@pytest.fixture
def staff(tokens):
    return auth(tokens["staff"])


def errors_of(response) -> dict[str, list[str]]:
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    return response.get_json()["errors"]


def assert_named(errors: dict, *paths: str) -> None:
    missing = [path for path in paths if path not in errors]
    assert not missing, f"{missing} not in {errors}"


# -- registry -----------------------------------------------------------------------------------
CLIENT = {"name": "华为 Huawei", "kind": "external", "category": "enterprise",
          "annual_value": {"amount": "125000.00", "currency": "CNY"}}


def test_a_bad_kind_no_longer_hides_a_foreign_currency_nor_the_other_fields(registry, staff):
    errors = errors_of(registry.post("/api/v1/clients", headers=staff, json={
        "name": "", "kind": "partner", "category": "enterprise", "power": 9, "colour": "red",
        "contacts": [{"email": "li@example.com"}],
        "annual_value": {"amount": "1000.00", "currency": "USD"}}))
    assert_named(errors, "name", "kind", "power", "colour", "contacts.0.name",
                 "annual_value.currency")
    assert errors["annual_value.currency"] == ["Must be CNY, the currency of this installation."]
    assert registry.get("/api/v1/clients", headers=staff).get_json()["total"] == 0


def test_a_malformed_amount_and_a_foreign_currency_are_both_named(registry, staff):
    errors = errors_of(registry.post("/api/v1/clients", headers=staff, json={
        **CLIENT, "annual_value": {"amount": 1000, "currency": "USD"}}))
    assert set(errors) == {"annual_value.amount", "annual_value.currency"}


def test_a_category_of_another_kind_is_named_beside_shape_errors(registry, staff):
    errors = errors_of(registry.post("/api/v1/clients", headers=staff, json={
        **CLIENT, "kind": "internal", "tags": [""]}))
    assert set(errors) == {"category", "tags.0"}


def test_a_correction_names_every_invalid_field(registry, staff):
    created = registry.post("/api/v1/clients", headers=staff, json=CLIENT)
    assert created.status_code == 201, created.get_json()
    client = created.get_json()
    errors = errors_of(registry.patch(f"/api/v1/clients/{client['id']}", headers=staff, json={
        "kind": "partner", "interest": 0, "annual_value": {"amount": "5.00", "currency": "EUR"}}))
    assert set(errors) == {"kind", "interest", "annual_value.currency"}
    assert registry.get(f"/api/v1/clients/{client['id']}", headers=staff).get_json()["version"] == 1


# -- complaints ---------------------------------------------------------------------------------
COMPLAINT = {"channel": "email", "category": "billing", "severity": "medium",
             "title": "Charged twice for March"}


def test_an_opening_names_shape_errors_blank_texts_and_an_unknown_client(complaints, staff):
    http, _ctx = complaints
    errors = errors_of(http.post("/api/v1/complaints", headers=staff, json={
        **COMPLAINT, "client_id": str(uuid.uuid4()), "channel": "fax", "title": "   ",
        "urgency": "high"}))
    assert_named(errors, "channel", "title", "urgency", "client_id")
    assert errors["title"] == ["Must not be blank."]


def test_a_blank_title_and_an_unknown_client_are_named_together(complaints, staff):
    http, _ctx = complaints
    response = http.post("/api/v1/complaints", headers=staff, json={
        **COMPLAINT, "client_id": str(uuid.uuid4()), "title": " "})
    assert set(errors_of(response)) == {"title", "client_id"}
    assert "Retry-After" not in response.headers  # retrying the same body cannot help


def test_an_unknown_client_alone_still_says_retry_after(complaints, staff):
    http, _ctx = complaints
    response = http.post("/api/v1/complaints", headers=staff,
                         json={**COMPLAINT, "client_id": str(uuid.uuid4())})
    assert set(errors_of(response)) == {"client_id"}
    assert response.headers["Retry-After"] == "1"


@pytest.fixture
def complaint(complaints, staff):
    http, ctx = complaints
    response = http.post("/api/v1/complaints", headers=staff,
                         json={**COMPLAINT, "client_id": complaints_client(ctx)})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_an_action_names_unknown_fields_and_its_own_invalid_fields(complaints, complaint, staff):
    http, _ctx = complaints
    errors = errors_of(http.post(f"/api/v1/complaints/{complaint['id']}/actions", headers=staff,
                                 json={"action": "resolve", "resolution_code": "bribe",
                                       "summary": "Refunded", "colour": "red"}))
    assert set(errors) == {"colour", "resolution_code", "root_cause"}


def test_an_unknown_action_is_named_beside_an_unknown_field(complaints, complaint, staff):
    http, _ctx = complaints
    errors = errors_of(http.post(f"/api/v1/complaints/{complaint['id']}/actions", headers=staff,
                                 json={"action": "solve", "colour": "red"}))
    assert set(errors) == {"action", "colour"}


def test_a_triage_correction_names_every_invalid_field(complaints, complaint, staff):
    http, _ctx = complaints
    errors = errors_of(http.patch(f"/api/v1/complaints/{complaint['id']}", headers=staff,
                                  json={"title": "  ", "severity": "urgent", "colour": "red"}))
    assert set(errors) == {"title", "severity", "colour"}


# -- survey -------------------------------------------------------------------------------------
def test_a_definition_names_unknown_fields_beside_its_questions_errors(survey, staff):
    http, _ctx = survey
    errors = errors_of(http.post("/api/v1/surveys", headers=staff, json={
        "title": {"en": "Satisfaction"}, "languages": ["en"], "colour": "red",
        "questions": [{"key": "q1", "type": "stars", "text": {"en": "How was it?"}},
                      {"key": "q2", "type": "rating", "text": {"en": "Rate us"}}]}))
    assert set(errors) == {"colour", "questions.0.type", "questions.1.scale"}


def test_a_draft_change_names_unknown_fields_and_texts_missing_for_its_languages(survey, staff):
    http, _ctx = survey
    draft = create_survey(http, staff)  # offered in zh-CN and en
    errors = errors_of(http.patch(f"/api/v1/surveys/{draft['id']}", headers=staff,
                                  json={"title": {"en": "Only English"}, "colour": "red"}))
    assert set(errors) == {"colour", "title.zh-CN"}


def test_an_invitation_names_every_client_the_expiry_and_the_language(survey, staff):
    http, ctx = survey
    offered = active_survey(http, staff, languages=["zh-CN"], **_chinese_only())
    known = learn_client(ctx)
    archived = learn_client(ctx, status="archived")
    unknown = str(uuid.uuid4())
    url = f"/api/v1/surveys/{offered['id']}/invitations"
    errors = errors_of(http.post(url, headers=staff, json={
        "client_ids": [unknown, known, known, archived], "language": "fr",
        "expires_in_days": 0, "colour": "red"}))
    assert set(errors) == {"client_ids.0", "client_ids.2", "client_ids.3", "language",
                           "expires_in_days", "colour"}
    response = http.post(url, headers=staff, json={"client_id": unknown, "language": "en",
                                                   "expires_in_days": 400})
    assert set(errors_of(response)) == {"client_id", "language", "expires_in_days"}
    assert "Retry-After" not in response.headers


def test_an_invitation_names_both_targets_when_one_is_malformed(survey, staff):
    http, _ctx = survey
    offered = active_survey(http, staff)
    errors = errors_of(http.post(f"/api/v1/surveys/{offered['id']}/invitations", headers=staff,
                                 json={"client_id": "nope", "client_ids": [str(uuid.uuid4())],
                                       "expires_in_days": "soon"}))
    assert "Give either client_id or client_ids." in errors["client_id"]
    assert_named(errors, "expires_in_days")


def _chinese_only() -> dict:
    from tests.survey.survey_support import EVERY_TYPE

    def chinese(value):
        if isinstance(value, dict):
            return {key: chinese(item) for key, item in value.items() if key != "en"}
        if isinstance(value, list):
            return [chinese(item) for item in value]
        return value

    return {"title": chinese(EVERY_TYPE["title"]), "intro": chinese(EVERY_TYPE["intro"]),
            "questions": chinese(EVERY_TYPE["questions"])}
