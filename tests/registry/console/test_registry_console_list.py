"""The client list, ``/registry/console/``: newest first, searched and filtered, a page at a time
(in SQL), and only the links the role may use."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import event

from services.registry import service
from tests.registry.conftest import register
from tests.registry.console.console_support import main_of, text_of


def names_listed(response) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/console/clients/[0-9a-f-]+">([^<]*)</a>',
                      main_of(response))


def test_an_unsigned_visitor_is_sent_to_sign_in(registry_app):
    answer = registry_app.test_client().get("/console/?kind=external")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/console/sign-in?next=/console/%3Fkind%3Dexternal"


def test_clients_are_listed_newest_first(registry_ctx, clock, console_as):
    for name in ("Oldest", "Middle", "Newest"):
        register(registry_ctx, name)
        clock.advance(minutes=5)

    assert names_listed(console_as("analyst").get("/console/")) == ["Newest", "Middle", "Oldest"]


def test_search_and_every_filter_narrow_the_list(registry_ctx, clock, console_as):
    register(registry_ctx, "Northwind Traders", tags=["retail", "EMEA"], owner="Tom Baker",
             annual_value={"amount": "2000000.00", "currency": "CNY"})
    register(registry_ctx, "华为技术有限公司", kind="external", category="enterprise",
             tags=["通信"], owner="李娜", contacts=[{"name": "张伟", "email": "zw@example.cn"}])
    register(registry_ctx, "财务部", kind="internal", category="department", owner="李娜")
    client = console_as("analyst")

    def listed(query: str) -> set[str]:
        return set(names_listed(client.get(f"/console/?{query}")))

    assert listed("q=northwind") == {"Northwind Traders"}
    assert listed("q=张伟") == {"华为技术有限公司"}            # a contact's name finds its client
    assert listed("kind=internal") == {"财务部"}
    assert listed("tier=A") == {"Northwind Traders"}
    assert listed("health_band=healthy") == {"Northwind Traders", "华为技术有限公司", "财务部"}
    assert listed("health_band=critical") == set()
    assert listed("owner=李娜") == {"华为技术有限公司", "财务部"}
    assert listed("owner=tom+baker") == {"Northwind Traders"}  # case does not matter
    assert listed("tag=EMEA") == {"Northwind Traders"}
    assert listed("tag=EM") == set()                            # a tag is matched whole
    assert listed("owner=李娜&kind=external") == {"华为技术有限公司"}


def test_archived_clients_are_left_out_unless_asked_for(registry_ctx, console_as):
    kept = register(registry_ctx, "Kept")
    gone = register(registry_ctx, "Archived one")
    with registry_ctx.database.transaction() as session:
        service.archive_client(session, gone.id, expected_version=None, now=registry_ctx.clock())
    client = console_as("analyst")

    assert names_listed(client.get("/console/")) == [kept.name]
    assert names_listed(client.get("/console/?status=archived")) == ["Archived one"]
    assert set(names_listed(client.get("/console/?status=all"))) == {"Kept", "Archived one"}


@pytest.mark.parametrize("query", ["kind=alien", "tier=Z", "health_band=%3Cb%3E", "page=abc",
                                   "page=-3", "page=99999999999", "status=deleted", "q=%00",
                                   "unknown=1"])
def test_a_query_it_does_not_understand_shows_the_list_not_an_error(registry_ctx, console_as,
                                                                     query):
    register(registry_ctx, "Acme")
    answer = console_as("analyst").get(f"/console/?{query}")
    assert answer.status_code == 200


def test_the_list_is_read_a_page_at_a_time_in_sql(registry_ctx, clock, console_as):
    for number in range(30):
        register(registry_ctx, f"Client {number:02d}")
        clock.advance(seconds=1)
    client = console_as("analyst")
    statements: list[str] = []
    engine = registry_ctx.database.engine

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        first = client.get("/console/?kind=external")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    listed = [s for s in statements if "FROM client" in s and "count(" not in s.lower()]

    assert names_listed(first) == [f"Client {number:02d}" for number in range(29, 4, -1)]
    assert listed and all("LIMIT" in statement for statement in listed)
    page = main_of(first)
    assert "1–25 of 30" in page
    assert 'href="?kind=external&amp;page=2"' in page         # the pager keeps the filters
    second = client.get("/console/?kind=external&page=2")
    assert names_listed(second) == [f"Client {number:02d}" for number in range(4, -1, -1)]


def test_only_staff_and_admins_are_offered_a_new_client(registry_ctx, console_as):
    register(registry_ctx, "Acme")
    assert "/console/clients/new" not in text_of(console_as("analyst").get("/console/"))
    assert "/console/clients/new" in text_of(console_as("staff").get("/console/"))


def test_the_list_speaks_the_readers_language(registry_ctx, console_as):
    register(registry_ctx, "Acme", kind="internal", category="department")
    chinese = main_of(console_as("analyst", language="zh-CN").get("/console/"))
    english = main_of(console_as("analyst", language="en").get("/console/"))

    assert "<h1>客户</h1>" in chinese and "内部 · 部门" in chinese
    assert "<h1>Clients</h1>" in english and "Internal · Department" in english
