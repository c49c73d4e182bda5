"""Registering, editing, archiving and erasing clients from the console: the API's use cases
and checks, a form that comes back with its errors and what was typed, and only the roles that
may (a forged POST is a 403 page; a POST without its CSRF token changes nothing)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from services.registry import care, service
from tests.conftest import make_token
from tests.registry.conftest import published, register
from tests.registry.console.console_support import main_of, post, text_of
from tests.support.console import console_client, csrf

NEW = "/console/clients/new"


def form(**overrides) -> dict[str, str]:
    fields = {"name": "Northwind Traders", "kind": "external", "category": "enterprise",
              "tags": "retail, EMEA，零售", "owner": "Tom Baker", "preferred_language": "en",
              "annual_amount": "1,250,000.50", "power": "4", "interest": "5",
              "engagement_current": "neutral", "engagement_desired": "leading",
              "contacts-0-name": "Sarah Mitchell", "contacts-0-email": "sarah@example.com",
              "contacts-0-phone": "+44 20 7946 0000", "contacts-0-role": "Head of Operations",
              "contacts-1-name": "", "contacts-1-email": "", "contacts-2-name": ""}
    return {**fields, **overrides}


def stored(ctx, client_id: str):
    with ctx.database.transaction() as session:
        client = service.get_client(session, client_id)
        session.expunge(client)
        return client


def all_clients(ctx) -> list:
    from sqlalchemy import select

    from services.registry.adapters.orm import ClientRecord
    with ctx.database.transaction() as session:
        return session.execute(select(ClientRecord.name)).scalars().all()


def test_staff_register_a_client_with_the_form(registry_ctx, console_as):
    staff = console_as("staff")
    assert staff.get(NEW).status_code == 200
    answer = post(staff, NEW, form(), page=NEW)

    assert answer.status_code == 303
    client_id = answer.headers["Location"].rsplit("/", 1)[1]
    client = stored(registry_ctx, client_id)
    assert (client.name, client.kind, client.category, client.owner) == (
        "Northwind Traders", "external", "enterprise", "Tom Baker")
    assert client.tags == ["retail", "EMEA", "零售"]
    assert client.contacts == [{"name": "Sarah Mitchell", "email": "sarah@example.com",
                                "phone": "+44 20 7946 0000", "role": "Head of Operations"}]
    assert (Decimal(client.annual_amount), client.tier) == (Decimal("1250000.50"), "A")
    assert (client.power, client.interest, client.engagement_current,
            client.engagement_desired, client.preferred_language) == (4, 5, "neutral", "leading", "en")
    assert [event["data"]["client"]["id"] for event in published(registry_ctx, "client.registered")] \
        == [client_id]
    assert "Client Northwind Traders registered." in text_of(staff.get(answer.headers["Location"]))


def test_a_client_needs_only_a_name_kind_and_category(registry_ctx, console_as):
    answer = post(console_as("staff"), NEW, {"name": "王芳", "kind": "external",
                                            "category": "individual"}, page=NEW)
    client = stored(registry_ctx, answer.headers["Location"].rsplit("/", 1)[1])
    assert (client.contacts, client.tags, client.owner, client.annual_amount, client.power) == (
        [], [], None, None, None)
    assert client.preferred_language == "zh-CN"                  # the installation's default


def test_every_invalid_field_comes_back_at_once_with_what_was_typed(registry_ctx, console_as):
    answer = post(console_as("staff"), NEW, form(
        name="", category="department", annual_amount="12.345",
        **{"contacts-1-email": "not-an-email", "contacts-1-name": "Li Lei", "power": "9"}),
        page=NEW)
    page = main_of(answer)

    assert answer.status_code == 422
    for name in ("name", "category", "annual_amount", "contacts-1-email", "power"):
        assert f'href="#field-{name}"' in page, name
        assert f'id="error-{name}"' in page, name
    assert "Choose a category of the chosen kind." in page
    assert 'value="not-an-email"' in page and 'value="Li Lei"' in page
    assert 'value="12.345"' in page and 'value="retail, EMEA，零售"' in page
    assert all_clients(registry_ctx) == []


def test_the_errors_are_in_the_readers_language(registry_ctx, console_as):
    answer = post(console_as("staff", language="zh-CN"), NEW, form(name=""), page=NEW)
    assert "请输入客户名称，最多 200 个字符。" in main_of(answer)


def test_text_the_database_cannot_store_is_an_error_not_a_crash(registry_ctx, console_as):
    answer = post(console_as("staff"), NEW, form(name="Acme\x00", **{"contacts-0-role": "x\x00"}),
                  page=NEW)
    assert answer.status_code == 422
    assert 'href="#field-name"' in text_of(answer)
    assert 'href="#field-contacts-0-role"' in text_of(answer)


def test_staff_edit_a_client_and_an_unchanged_form_changes_nothing(registry_ctx, console_as):
    client = register(registry_ctx, "Acme", contacts=[{"name": "Zhang Wei", "email": "zw@example.cn"}],
                      tags=["a"], annual_value={"amount": "100000.00", "currency": "CNY"})
    staff = console_as("staff")
    edit = f"/console/clients/{client.id}/edit"
    page = text_of(staff.get(edit))
    assert 'value="Acme"' in page and 'value="zw@example.cn"' in page and 'value="100000.00"' in page

    unchanged = {"name": "Acme", "kind": "external", "category": "enterprise", "tags": "a",
                 "preferred_language": "zh-CN", "annual_amount": "100000.00",
                 "contacts-0-name": "Zhang Wei", "contacts-0-email": "zw@example.cn",
                 "version": "1"}
    assert post(staff, edit, unchanged, page=edit).status_code == 303
    assert stored(registry_ctx, client.id).version == 1
    assert published(registry_ctx, "client.updated") == []

    changed = {**unchanged, "name": "Acme Ltd", "contacts-0-name": "", "contacts-0-email": "",
               "kind": "internal", "category": "department", "annual_amount": "2000000"}
    answer = post(staff, edit, changed, page=edit)
    assert answer.status_code == 303
    after = stored(registry_ctx, client.id)
    assert (after.name, after.contacts, after.kind, after.category, after.tier, after.version) == (
        "Acme Ltd", [], "internal", "department", "A", 2)
    assert len(published(registry_ctx, "client.updated")) == 1
    assert "Client saved." in text_of(staff.get(answer.headers["Location"]))


def test_an_edit_over_someone_elses_change_is_shown_again_not_saved(registry_ctx, console_as):
    client = register(registry_ctx, "Acme")
    with registry_ctx.database.transaction() as session:
        service.update_client(session, client.id, {"name": "Acme (renamed)"}, expected_version=1,
                              now=registry_ctx.clock(), rules=registry_ctx.extras["rules"])
    staff = console_as("staff")
    edit = f"/console/clients/{client.id}/edit"
    answer = post(staff, edit, {"name": "Acme mine", "kind": "external", "category": "enterprise",
                                "preferred_language": "zh-CN", "version": "1"}, page=edit)

    assert answer.status_code == 409
    assert "Someone else changed this client" in text_of(answer)
    assert 'value="Acme mine"' in text_of(answer) and 'name="version" value="2"' in text_of(answer)
    assert stored(registry_ctx, client.id).name == "Acme (renamed)"


def test_staff_archive_a_client(registry_ctx, console_as):
    client = register(registry_ctx, "Acme")
    staff = console_as("staff")
    answer = post(staff, f"/console/clients/{client.id}/archive", {"version": "1"})
    assert answer.status_code == 303
    assert stored(registry_ctx, client.id).status == "archived"
    page = text_of(staff.get(f"/console/clients/{client.id}"))
    assert "Client archived" in page and f"/console/clients/{client.id}/archive" not in page


def test_erasing_is_for_admins_after_a_page_naming_what_goes(registry_ctx, clock, console_as):
    client = register(registry_ctx, "Acme", owner="Li Na", tags=["vip"],
                      contacts=[{"name": "Zhang Wei", "email": "zw@example.cn", "phone": "123"}])
    with registry_ctx.database.transaction() as session:
        rules = registry_ctx.extras["rules"]
        care.put_plan(session, client.id, {"goal": "Win the renewal", "channel": "meeting",
                                           "frequency_days": 30}, expected_version=None,
                      now=clock.now, by="t", rules=rules)
        for summary in ("First call", "Second call"):
            care.log_interaction(session, client.id, {"channel": "phone", "summary": summary},
                                 now=clock.now, by="t", rules=rules)
    erase = f"/console/clients/{client.id}/erase"
    staff = console_as("staff")
    assert staff.get(erase).status_code == 403
    assert post(staff, erase, {"version": "1"}).status_code == 403
    assert stored(registry_ctx, client.id).name == "Acme"

    admin = console_as("admin")
    confirm = main_of(admin.get(erase))
    for named in ("“Acme”", "Zhang Wei", "&lt;zw@example.cn&gt;", "The tags: vip",
                  "The owner: Li Na", "goal: Win the renewal",
                  "The summaries of 2 logged interactions",
                  "survey responses (their scores stay)"):
        assert named in confirm, named
    answer = post(admin, erase, {"version": "1"}, page=erase)
    assert answer.status_code == 303
    erased = stored(registry_ctx, client.id)
    assert (erased.status, erased.name, erased.contacts, erased.owner) == (
        "erased", "Erased client", [], None)
    assert len(published(registry_ctx, "client.erased")) == 1
    page = main_of(admin.get(f"/console/clients/{client.id}"))
    assert "personal data was erased" in page and "<form" not in page


@pytest.mark.parametrize("path, data", [
    (NEW, form()),
    ("/console/clients/{id}/edit", {"name": "Hacked", "kind": "external", "category": "enterprise"}),
    ("/console/clients/{id}/archive", {}),
    ("/console/clients/{id}/erase", {}),
    ("/console/clients/{id}/interactions", {"channel": "phone", "summary": "forged"}),
    ("/console/clients/{id}/plan", {"plan_goal": "forged", "plan_channel": "phone",
                                    "plan_frequency_days": "7"}),
])
def test_an_analysts_forged_post_is_a_403_page_and_changes_nothing(registry_ctx, console_as,
                                                                     path, data):
    client = register(registry_ctx, "Acme")
    analyst = console_as("analyst")
    answer = post(analyst, path.format(id=client.id), data)
    assert answer.status_code == 403 and answer.mimetype == "text/html"
    assert stored(registry_ctx, client.id).version == 1
    assert all_clients(registry_ctx) == ["Acme"]
    assert len(published(registry_ctx)) == 1                       # client.registered only
    with registry_ctx.database.transaction() as session:
        assert care.interactions_page(session, client.id, 1, 1)["total"] == 0


def test_the_new_client_and_edit_pages_are_not_offered_to_analysts(registry_ctx, console_as):
    client = register(registry_ctx, "Acme")
    analyst = console_as("analyst")
    assert analyst.get(NEW).status_code == 403
    assert analyst.get(f"/console/clients/{client.id}/edit").status_code == 403


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_a_post_without_this_sessions_csrf_token_changes_nothing(registry_ctx, registry_app,
                                                                  settings, console_as, token):
    client = register(registry_ctx, "Acme")
    admin = console_as("admin")
    if token == "forged":   # another session's token
        other = console_client(registry_app, make_token(settings, "admin", "Other"))
        token = csrf(other, "/console/")
    paths = [(NEW, form()), (f"/console/clients/{client.id}/archive", {}),
             (f"/console/clients/{client.id}/erase", {}),
             (f"/console/clients/{client.id}/interactions", {"channel": "phone", "summary": "x"})]
    for path, data in paths:
        sent = data if token is None else {**data, "csrf_token": token}
        answer = admin.post(path, data=sent)
        assert answer.status_code == 403 and answer.mimetype == "text/html", path
    assert stored(registry_ctx, client.id).status == "active"
    assert all_clients(registry_ctx) == ["Acme"]
    assert len(published(registry_ctx)) == 1


def test_a_post_from_another_site_is_refused(registry_ctx, console_as):
    client = register(registry_ctx, "Acme")
    admin = console_as("admin")
    answer = admin.post(f"/console/clients/{client.id}/archive",
                        data={"csrf_token": csrf(admin, "/console/")},
                        headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert stored(registry_ctx, client.id).status == "active"
