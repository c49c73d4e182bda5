"""Whatever staff typed into a client (name, contacts, tags, owner, a plan's goal, an
interaction's summary) and whatever the client wrote in a survey comment is shown as text on
every registry page, never as markup."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from services.registry import care
from services.registry.adapters.orm import ClientEventRecord
from tests.registry.conftest import deliver, register
from tests.registry.console.console_support import HOSTILE, post, text_of


@pytest.fixture
def hostile_client(registry_ctx, bus, clock, console_as):
    """A client registered through the console's own form with a hostile string in every text
    field, with a plan and an interaction logged through the page, and a survey response whose
    comment is hostile too."""
    script, attribute = HOSTILE
    staff = console_as("admin")
    answer = post(staff, "/console/clients/new", {
        "name": f"{script}{attribute}", "kind": "external", "category": "enterprise",
        "tags": f"{script}, {attribute}", "owner": attribute,
        "contacts-0-name": script, "contacts-0-role": attribute,
        "contacts-0-phone": "<b>1</b>", "contacts-0-email": "x@example.com"},
        page="/console/clients/new")
    assert answer.status_code == 303, text_of(answer)[:2000]
    client_id = answer.headers["Location"].rsplit("/", 1)[1]
    assert post(staff, f"/console/clients/{client_id}/interactions",
                {"channel": "phone", "summary": f"{script} {attribute}",
                 "staff": attribute}).status_code == 303
    assert post(staff, f"/console/clients/{client_id}/plan",
                {"plan_goal": script, "plan_channel": "email", "plan_frequency_days": "1",
                 "plan_owner": attribute}).status_code == 303
    deliver(registry_ctx, bus.survey(client_id, 80, comment=f"{script} {attribute}"))
    return staff, client_id


class Elements(HTMLParser):
    """Every element of a page with its attributes, as a browser would parse them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def assert_shown_as_text(html: str) -> None:
    elements = Elements(html).found
    assert [tag for tag, _attrs in elements if tag in ("script", "b")] == []
    assert [attrs for tag, attrs in elements if tag == "img" and attrs.get("src") == "x"] == []
    assert [attrs for _tag, attrs in elements if any(name.startswith("on") for name in attrs)] == []


def test_hostile_text_is_shown_as_text_on_every_page(hostile_client, console_as):
    staff, client_id = hostile_client
    pages = ["/console/", f"/console/clients/{client_id}", f"/console/clients/{client_id}/edit",
             f"/console/clients/{client_id}/erase", "/console/?q=%3Cscript%3E",
             "/console/?owner=%22%3E%3Cimg+src%3Dx+onerror%3Dalert(1)%3E",
             "/console/?tag=%3Cscript%3Ealert(1)%3C%2Fscript%3E"]
    for path in pages:
        html = text_of(staff.get(path))
        assert_shown_as_text(html)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    client_page = text_of(staff.get(f"/console/clients/{client_id}"))
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in client_page
    # the name, a tag, a contact, the plan's goal, the interaction's summary and the comment
    assert client_page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6
    feedback = client_page.split('id="feedback"')[1].split("</section>")[0]
    assert ("<td>&lt;script&gt;alert(1)&lt;/script&gt; &#34;&gt;&lt;img src=x onerror=alert(1)&gt;"
            "</td>") in feedback


def test_hostile_text_is_shown_as_text_in_flash_messages_and_forms_shown_again(registry_ctx,
                                                                               console_as):
    script, attribute = HOSTILE
    staff = console_as("staff")
    registered = post(staff, "/console/clients/new",
                      {"name": script, "kind": "external", "category": "enterprise"},
                      page="/console/clients/new")
    landing = text_of(staff.get(registered.headers["Location"]))
    assert "Client &lt;script&gt;alert(1)&lt;/script&gt; registered." in landing
    assert_shown_as_text(landing)

    refused = post(staff, "/console/clients/new",
                   {"name": attribute, "kind": "external", "category": "department",
                    "contacts-0-email": attribute}, page="/console/clients/new")
    assert refused.status_code == 422
    assert_shown_as_text(text_of(refused))
    assert 'value="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"' in text_of(refused)


def test_an_erased_hostile_client_leaves_no_trace_of_it(hostile_client, registry_ctx, console_as):
    staff, client_id = hostile_client
    assert post(staff, f"/console/clients/{client_id}/erase", {}).status_code == 303
    page = text_of(staff.get(f"/console/clients/{client_id}")).split("<main", 1)[1]
    assert "&lt;script&gt;" not in page     # the staff member's own name (the log's "staff") stays
    with registry_ctx.database.transaction() as session:
        assert care.interactions_page(session, client_id, 1, 10)["items"][0].summary == "(erased)"
        comments = session.execute(select(ClientEventRecord.comment).where(
            ClientEventRecord.client_id == client_id)).scalars().all()
    assert comments == [None]   # the response stays (its score), its comment does not


def test_the_portfolio_page_is_safe_with_hostile_clients(registry_ctx, console_as):
    register(registry_ctx, HOSTILE[0], owner=HOSTILE[1])
    assert_shown_as_text(text_of(console_as("analyst").get("/console/portfolio")))
