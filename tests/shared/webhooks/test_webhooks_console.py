"""The console's webhooks page (``/<service>/console/webhooks``), for admins, without JavaScript:
every action is a form POST answered by a redirect (the secret by the page that answers the add)."""
from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select, update

from shared.migrations import upgrade
from shared.web.console.catalogue import missing_translations, texts_in_python
from shared.web.console import webhooks as console_webhooks
from tests.conftest import make_token
from tests.shared.webhooks.conftest import load
from tests.support.console import console_client, csrf

HOOK = "https://127.0.0.1:9/hooks/console"
PAGE = "/console/webhooks"


@pytest.fixture
def admin(complaints, local_settings):
    return console_client(complaints[1], make_token(local_settings, "admin"), language="en")


def endpoints(ctx) -> list:
    table = ctx.tables.webhook_endpoint
    with ctx.database.transaction() as session:
        return session.execute(select(table)).mappings().all()


def deliveries(ctx) -> list:
    table = ctx.tables.webhook_delivery
    with ctx.database.transaction() as session:
        return session.execute(select(table)).mappings().all()


def add(client, url=HOOK, event_types="complaint.*, improvement.created", description="Ops"):
    return client.post(PAGE, data={"csrf_token": csrf(client, PAGE), "url": url,
                                   "event_types": event_types, "description": description})


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(complaints, admin):
    ctx, _app = complaints
    page = admin.get(PAGE)
    assert page.status_code == 200 and "No webhook endpoint yet." in page.get_data(as_text=True)
    response = add(admin)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    html = response.get_data(as_text=True)
    [row] = endpoints(ctx)
    assert row["secret"].startswith("whsec_") and f">{row['secret']}<" in html
    assert row["url"] == HOOK and row["description"] == "Ops"
    assert deliveries(ctx) == []  # nothing is sent on adding
    listing = admin.get(PAGE).get_data(as_text=True)
    assert HOOK in listing and "complaint.*, improvement.created" in listing
    assert row["secret"] not in listing
    detail = admin.get(f"{PAGE}/{row['id']}").get_data(as_text=True)
    assert row["secret"] not in detail and "No delivery yet." in detail


@pytest.mark.parametrize("url,event_types,field", [
    ("https://example.com/hook", "*", "url"),
    (HOOK, "client.*", "event_types"),
    (HOOK, "", "event_types"),
    ("", "*", "url"),
])
def test_a_refused_endpoint_shows_the_form_again_with_the_error(complaints, admin, url, event_types, field):
    response = add(admin, url=url, event_types=event_types)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="error-{field}"' in html and 'class="error-summary"' in html
    assert f'value="{url}"' in html or not url
    assert endpoints(complaints[0]) == []


def test_disable_enable_test_retry_and_delete_are_posts_that_redirect(complaints, admin):
    ctx, _app = complaints
    add(admin)
    [row] = endpoints(ctx)
    detail = f"{PAGE}/{row['id']}"

    def post(path):
        response = admin.post(path, data={"csrf_token": csrf(admin, detail)})
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        return response

    assert post(f"{detail}/disable").headers["Location"].endswith(detail)
    assert endpoints(ctx)[0]["enabled"] is False
    assert "Enable</button>" in admin.get(detail).get_data(as_text=True)
    post(f"{detail}/enable")
    assert endpoints(ctx)[0]["enabled"] is True

    post(f"{detail}/test")
    [ping] = deliveries(ctx)
    assert ping["event_type"] == "webhook.test" and ping["status"] == "pending"
    page = admin.get(detail).get_data(as_text=True)
    assert "webhook.test" in page and "A test event is queued" in page
    table = ctx.tables.webhook_delivery
    with ctx.database.transaction() as session:
        session.execute(update(table).where(table.c.id == ping["id"]).values(
            status="failed", attempts=8, last_status_code=502))
    assert "502" in admin.get(detail).get_data(as_text=True)
    post(f"{detail}/deliveries/{ping['id']}/retry")
    [again] = deliveries(ctx)
    assert again["status"] == "pending" and again["attempts"] == 0

    assert post(f"{detail}/delete").headers["Location"].endswith(PAGE)
    assert endpoints(ctx) == [] and deliveries(ctx) == []
    assert admin.get(detail).status_code == 404


def test_an_unknown_endpoint_or_delivery_is_the_404_page(complaints, admin):
    add(admin)
    [row] = endpoints(complaints[0])
    token = csrf(admin, PAGE)
    assert admin.get(f"{PAGE}/{uuid.uuid4()}").status_code == 404
    assert admin.post(f"{PAGE}/{uuid.uuid4()}/test", data={"csrf_token": token}).status_code == 404
    assert admin.post(f"{PAGE}/{row['id']}/deliveries/{uuid.uuid4()}/retry",
                      data={"csrf_token": token}).status_code == 404


@pytest.mark.parametrize("role", ["staff", "analyst"])
def test_only_admins_are_offered_the_page(complaints, local_settings, admin, role):
    ctx, app = complaints
    add(admin)
    [row] = endpoints(ctx)
    other = console_client(app, make_token(local_settings, role), language="en")
    assert other.get(PAGE).status_code == 403
    assert other.get(f"{PAGE}/{row['id']}").status_code == 403
    token = csrf(other, "/console/")
    for path in (PAGE, f"{PAGE}/{row['id']}/disable", f"{PAGE}/{row['id']}/delete", f"{PAGE}/{row['id']}/test"):
        assert other.post(path, data={"csrf_token": token, "url": HOOK, "event_types": "*"}).status_code == 403
    assert len(endpoints(ctx)) == 1 and endpoints(ctx)[0]["enabled"] is True and deliveries(ctx) == []
    assert 'href="/console/webhooks"' not in other.get("/console/").get_data(as_text=True)
    assert 'href="/console/webhooks"' in admin.get("/console/").get_data(as_text=True)


def test_a_post_without_the_csrf_token_changes_nothing(complaints, admin):
    response = admin.post(PAGE, data={"url": HOOK, "event_types": "*"})
    assert response.status_code == 403 and endpoints(complaints[0]) == []


def test_signed_out_visitors_are_sent_to_sign_in(complaints):
    response = complaints[1].test_client().get(PAGE)
    assert response.status_code == 303 and "/console/sign-in" in response.headers["Location"]


def test_the_page_is_in_chinese_too(complaints, local_settings):
    client = console_client(complaints[1], make_token(local_settings, "admin"), language="zh-CN")
    html = client.get(PAGE).get_data(as_text=True)
    assert "Webhook 端点" in html and "添加端点" in html


def test_every_text_of_the_page_has_chinese():
    from pathlib import Path
    folder = Path(console_webhooks.__file__).parent / "templates" / "console"
    texts = set()
    for name in ("webhooks.html", "webhook.html", "webhook_created.html"):
        texts |= texts_in_templates_file(folder / name)
    texts |= texts_in_python([console_webhooks.__file__])
    texts |= {"pending", "delivered", "failed"}
    assert missing_translations(texts) == []


def texts_in_templates_file(path):
    from shared.web.console.catalogue import texts_in_template_source
    return texts_in_template_source(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("service", ["registry", "survey", "complaints"])
def test_every_service_mounts_the_page(local_settings, service):
    ctx, app = load(service, local_settings)
    try:
        rules: dict[str, set] = {}
        for rule in app.url_map.iter_rules():
            rules.setdefault(rule.rule, set()).add(rule.endpoint)
        assert rules.get("/console/webhooks") == {"console.webhooks", "console.webhook_add"}
        assert "/console/webhooks/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/retry" in rules
        client = console_client(app, make_token(local_settings, "admin"), language="en")
        page = client.get(PAGE)
        assert page.status_code == 200 and re.search(r"<h1>Webhook endpoints</h1>", page.get_data(as_text=True))
    finally:
        ctx.database.dispose()


# -- in a browser -------------------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_pages_in_chromium_work_without_script_and_pass_axe(local_settings, language):
    import threading

    from werkzeug.serving import make_server

    from shared.embedded import wsgi
    from shared.runtime import available_services
    from tests.support.console import DESKTOP, axe_check, new_browser, sign_in

    for service in available_services():
        upgrade(service, local_settings.database_url(service))
    server = make_server("127.0.0.1", 0, wsgi(local_settings), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_port}"
    try:
        with new_browser() as browser:
            context = browser.new_context(locale=language, **DESKTOP)
            context.set_default_timeout(15_000)
            page = context.new_page()
            scripts: list[str] = []
            page.on("request", lambda request: scripts.append(request.url)
                    if request.resource_type == "script" else None)
            sign_in(page, f"{site}/complaints", make_token(local_settings, "admin"))
            page.locator('a[href="/complaints/console/webhooks"]').first.click()
            assert page.url == f"{site}/complaints/console/webhooks"
            assert axe_check(page) == [], "list"
            page.fill('input[name="url"]', HOOK)
            page.fill('input[name="event_types"]', "complaint.*")
            page.locator('form[action$="/console/webhooks"] button[type="submit"]').click()
            secret = page.locator("#webhook-secret").inner_text()
            assert secret.startswith("whsec_")
            assert axe_check(page) == [], "secret"
            page.locator('a[href*="/console/webhooks/"]').first.click()
            page.locator('form[action$="/test"] button').click()
            assert page.locator("td .badge").count() == 1 and "webhook.test" in page.content()
            assert secret not in page.content()
            assert axe_check(page) == [], "endpoint"
            assert scripts == []  # plain forms: the pages load no script
            context.close()
    finally:
        server.shutdown()
