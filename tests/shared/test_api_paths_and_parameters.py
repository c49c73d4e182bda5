"""What the API says about the URL itself, in every service, driven by its OpenAPI document.

* an id in a path that is not a UUID is a problem-details 404 saying so (not the 404 of a path
  that does not exist);
* a query parameter the operation does not take is a 422 naming it, as an unknown body field
  is, together with the problems of the parameters it does take;
* a problem's ``instance`` is the path as the caller sent it, the service's prefix included.
"""
from __future__ import annotations

import uuid

import pytest

from shared.config import Settings
from shared.runtime import available_services
from tests.conftest import TEST_SECRET, auth
from tests.shared.test_api_contract import assert_problem, load_service, token

SERVICES = available_services()
UNKNOWN = "Unknown parameter."


@pytest.fixture(scope="module")
def path_settings(tmp_path_factory) -> Settings:
    return Settings.from_env({}, data_dir=tmp_path_factory.mktemp("paths") / "data",
                             secret_key=TEST_SECRET, ratelimit_public="100000 per minute")


@pytest.fixture(scope="module", params=SERVICES)
def service(request, path_settings):
    loaded = load_service(request.param, path_settings)
    yield loaded
    loaded.ctx.database.dispose()


@pytest.fixture(scope="module")
def admin():
    return auth(token("admin"))


def failures_of(operations, check) -> list[str]:
    return [f"{op}: {failure}" for op in operations if (failure := check(op))]


# -- ids that are not UUIDs -------------------------------------------------------------------
@pytest.mark.parametrize("bad_id", ["abc", "123", "6f1c2e4e-not-a-uuid", "%E2%9C%93",
                                    "3fa85f6457174562b3fc2c963f66afa6"])
def test_an_id_that_is_not_a_uuid_is_a_404_problem_saying_so(service, admin, bad_id):
    http = service.client()
    with_ids = [op for op in service.operations if op.has_uuid_id]
    assert with_ids, f"{service.name} has no operation with an id in its path"

    def check(op):
        url = op.path
        for parameter in op.path_parameters:
            url = url.replace("{%s}" % parameter["name"], bad_id)
        response = http.open(url, method=op.method.upper(), headers=admin, json={})
        if response.status_code != 404 or response.mimetype != "application/problem+json":
            return f"{url}: {response.status_code} {response.get_data(as_text=True)[:200]}"
        detail = response.get_json()["detail"]
        return None if "is not a UUID" in detail else f"{url}: detail {detail!r}"

    failures = failures_of(with_ids, check)
    assert not failures, "\n".join(failures)


def test_a_path_that_does_not_exist_is_still_the_plain_404(service, admin):
    http = service.client()
    for path in ("/api/v1/no-such-thing/abc", "/api/v1/clients/abc/nothing/more"):
        body = assert_problem(http.get(path, headers=admin), 404)
        assert "UUID" not in body["detail"]


def test_a_uuid_nobody_has_is_still_the_404_of_the_resource(service, admin):
    http = service.client()
    op = next(op for op in service.operations if op.has_uuid_id and op.method == "get")
    body = assert_problem(http.get(op.url(), headers=admin), 404)
    assert "UUID" not in body["detail"]


# -- unknown query parameters -----------------------------------------------------------------
def test_every_read_refuses_a_parameter_it_does_not_take(service, admin):
    """The sweep: every GET in the OpenAPI document, with an id that exists or not."""
    http = service.client()

    def check(op):
        response = http.get(op.url(colour="red"), headers=admin)
        if response.status_code != 422 or response.mimetype != "application/problem+json":
            return f"{response.status_code} {response.get_data(as_text=True)[:200]}"
        errors = response.get_json().get("errors") or {}
        return None if errors.get("colour") == [UNKNOWN] else f"errors {errors}"

    gets = [op for op in service.operations if op.method == "get"]
    failures = failures_of(gets, check)
    assert not failures, "\n".join(failures)


def test_writes_refuse_query_parameters_too(service, admin):
    http = service.client()
    writes = [op for op in service.operations if op.method != "get" and not op.public]

    def check(op):
        response = http.open(op.url(dry_run="1"), method=op.method.upper(), headers=admin, json={})
        errors = (response.get_json(silent=True) or {}).get("errors") or {}
        return None if response.status_code == 422 and errors.get("dry_run") == [UNKNOWN] \
            else f"{response.status_code} {errors}"

    failures = failures_of(writes, check)
    assert not failures, "\n".join(failures)


def test_the_parameters_an_operation_documents_are_accepted(service, admin):
    http = service.client()
    lists = [op for op in service.operations if op.method == "get" and op.paginated
             and not op.path_parameters]
    assert lists

    def check(op):
        response = http.get(op.url(page="1", per_page="10"), headers=admin)
        return None if response.status_code == 200 else f"{response.status_code} {response.get_json()}"

    failures = failures_of(lists, check)
    assert not failures, "\n".join(failures)


def test_an_unknown_parameter_is_named_with_the_known_ones_problems(service, admin):
    http = service.client()
    op = next(op for op in service.operations if op.method == "get" and op.paginated
              and not op.path_parameters)
    body = assert_problem(http.get(op.url(per_page="0", Page="2"), headers=admin), 422)
    assert body["errors"]["Page"] == [UNKNOWN]
    assert "per_page" in body["errors"]
    assert "'Page'" in body["detail"]


def test_paths_outside_the_api_keep_their_parameters(service):
    http = service.client()
    assert http.get("/readyz?verbose").status_code in (200, 503)
    assert http.get("/healthz?probe=1").status_code == 200
    assert http.get("/openapi.json?download=1").status_code == 200


@pytest.mark.skipif("complaints" not in SERVICES, reason="no complaints service")
def test_a_search_the_complaints_list_does_not_offer_is_refused(path_settings, admin):
    complaints = load_service("complaints", path_settings)
    try:
        body = assert_problem(complaints.client().get("/api/v1/complaints?search=late",
                                                      headers=admin), 422)
        assert body["errors"] == {"search": [UNKNOWN]}
    finally:
        complaints.ctx.database.dispose()


@pytest.mark.skipif("survey" not in SERVICES, reason="no survey service")
def test_the_csv_export_keeps_its_format_parameter(path_settings, admin):
    survey = load_service("survey", path_settings)
    try:
        http = survey.client()
        url = f"/api/v1/surveys/{uuid.uuid4()}/responses"
        assert_problem(http.get(f"{url}?format=csv", headers=admin), 404)  # taken, then no survey
        assert assert_problem(http.get(f"{url}?format=csv&sep=;", headers=admin),
                              422)["errors"] == {"sep": [UNKNOWN]}
    finally:
        survey.ctx.database.dispose()


# -- instance ---------------------------------------------------------------------------------
def test_instance_is_the_path_with_the_service_prefix(service, admin):
    http = service.client()
    prefix = f"/{service.name}"
    path = "/api/v1/nothing-here"
    body = assert_problem(http.get(path, headers=admin, base_url=f"http://localhost{prefix}"), 404)
    assert body["instance"] == f"{prefix}{path}"
    op = next(op for op in service.operations if op.method == "get")
    body = assert_problem(http.get(op.url(colour="red"), headers=admin,
                                   base_url=f"http://localhost{prefix}"), 422)
    assert body["instance"] == prefix + op.url()
