"""Charts are SVG drawn on the server (pygal), shown as images with a text alternative, never a
script; pages put the same numbers in a table beside them; lists come a page at a time."""
from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

from flask import render_template_string
from sqlalchemy import select

from shared.web.console.charts import bar_chart, bar_svg, line_chart, line_svg
from shared.web.console.paging import Page, paginate

SVG = "{http://www.w3.org/2000/svg}"


def image_svg(markup: str) -> tuple[str, str]:
    source = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', markup).group(1)
    alt = re.search(r'alt="([^"]*)"', markup).group(1)
    return base64.b64decode(source).decode(), alt


def test_a_line_chart_is_valid_svg_without_script_with_its_numbers_as_text():
    points = [("2026-01", 3.5), ("2026-02", None), ("2026-03", 4.25)]
    markup = str(line_chart("满意度 <趋势>", points, y_range=(1, 5), band=(3, 4.5)))
    svg, alt = image_svg(markup)
    root = ET.fromstring(svg)                          # well-formed XML
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.get("aria-label") == "满意度 <趋势>"
    assert root.find(f"{SVG}title").text == "满意度 <趋势>"
    assert not list(root.iter(f"{SVG}script")) and "<script" not in svg
    assert "http" not in re.sub(r'xmlns(:\w+)?="[^"]*"|<!--.*?-->', "", svg)   # nothing fetched
    assert alt == "满意度 &lt;趋势&gt;. 2026-01: 3.5; 2026-02: —; 2026-03: 4.25"
    assert 'class="chart"' in markup


def test_a_bar_chart_escapes_hostile_labels():
    svg = bar_svg("Root causes", [('<script>alert(1)</script>', 5), ("Delivery", 2)])
    ET.fromstring(svg)
    assert "<script>alert" not in svg and "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    markup = str(bar_chart("Root causes", [('"><img src=x onerror=alert(1)>', 1)]))
    assert '"><img src=x' not in markup


def test_a_long_series_keeps_every_point_in_the_table_and_a_readable_alt():
    points = [(f"W{n}", n) for n in range(1, 53)]
    ET.fromstring(line_svg("Volume", points, band=[(n - 1, n + 1) for n in range(1, 53)]))
    _svg, alt = image_svg(str(line_chart("Volume", points)))
    assert alt.startswith("Volume. W1: 1;") and alt.endswith("…")


def test_the_chart_with_table_macro_shows_the_numbers_beside_the_chart(app):
    with app.test_request_context():
        html = render_template_string(
            '{% import "console/macros.html" as ui %}'
            '{{ ui.chart_with_table(chart, ["Month", "NPS"], rows, caption="NPS") }}',
            chart=line_chart("NPS", [("2026-01", 10)]), rows=[("2026-01", 10), ("<b>", 2)])
    assert '<img class="chart"' in html and "<caption>NPS</caption>" in html
    assert '<th scope="row">2026-01</th><td>10</td>' in html and "&lt;b&gt;" in html


def test_paginate_counts_in_sql_and_loads_one_page(app):
    from services.registry.adapters.orm import platform
    ctx = app.extensions["clientloop"]
    table = platform.api_token
    with ctx.database.transaction() as session:
        for n in range(7):
            session.execute(table.insert().values(id=f"id-{n}", name=f"n{n}"))
    with ctx.database.sessions() as session:
        page = paginate(session, select(table.c.name).order_by(table.c.name), page=2, per_page=3,
                        args={"q": "x"})
    assert list(page) == ["n3", "n4", "n5"] and page.total == 7 and page.pages == 3
    assert (page.prev_num, page.next_num, page.first_index, page.last_index) == (1, 3, 4, 6)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        html = render_template_string('{% import "console/macros.html" as ui %}{{ ui.pager(page) }}',
                                      page=page)
    assert 'href="?q=x&amp;page=1"' in html and 'href="?q=x&amp;page=3"' in html
    assert "4–6 of 7" in html and "Page 2 of 3" in html
    assert Page([], 1, 25, 0).pages == 1
