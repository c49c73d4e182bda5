"""The portfolio page: the report's figures overall and by kind, tier and health band, each
breakdown a chart with a table of the same numbers; and every text of the registry's pages has
its Chinese translation."""
from __future__ import annotations

import base64
import glob
import importlib
import re

from services.registry import service
from shared.web.console.catalogue import (missing_translations, texts_in_python,
                                          texts_in_templates)
from tests.registry.conftest import register
from tests.registry.console.console_support import main_of


def test_the_portfolio_shows_each_breakdown_as_a_chart_and_a_table(registry_ctx, console_as):
    register(registry_ctx, "A1", annual_value={"amount": "2000000.00", "currency": "CNY"})
    register(registry_ctx, "B1", annual_value={"amount": "200000.00", "currency": "CNY"})
    register(registry_ctx, "Internal", kind="internal", category="department")
    archived = register(registry_ctx, "Gone", annual_value={"amount": "9000000.00", "currency": "CNY"})
    with registry_ctx.database.transaction() as session:
        service.archive_client(session, archived.id, expected_version=None, now=registry_ctx.clock())
    page = main_of(console_as("analyst").get("/console/portfolio"))

    totals = page.split('id="totals"')[1].split("</section>")[0]
    assert "<dd>3</dd>" in totals and "CN¥2,200,000.00" in totals     # the archived one is out
    charts = re.findall(r'<img class="chart" src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]*)"',
                        page)
    assert [alt.split(".")[0] for _svg, alt in charts] == [
        "Clients by kind", "Annual value by tier", "Clients by health band"]
    assert "Internal: 1; External: 2" in charts[0][1]
    assert "<svg" in base64.b64decode(charts[1][0]).decode()
    by_tier = page.split('id="by_tier"')[1].split("</section>")[0]
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", by_tier, re.DOTALL)
    assert [name for name, _cells in rows] == ["Tier A", "Tier B", "Tier C"]
    assert re.findall(r'<td class="number">(.*?)</td>', rows[0][1]) == [
        "1", "—", "CN¥2,000,000.00", "CN¥0.00"]


def test_the_portfolio_speaks_chinese(registry_ctx, console_as):
    register(registry_ctx, "A1")
    page = main_of(console_as("analyst", language="zh-CN").get("/console/portfolio"))
    assert "<h1>客户组合</h1>" in page and "按类型的客户数" in page and "外部" in page


def test_every_text_of_the_registry_pages_has_a_chinese_translation():
    importlib.import_module("services.registry.web.console")  # registers its catalogue
    texts = texts_in_templates("services/registry/web/templates") | texts_in_python(
        glob.glob("services/registry/web/*.py"))
    assert len(texts) > 100
    assert missing_translations(texts, service="registry") == []
