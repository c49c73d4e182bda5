"""Charts as SVG drawn on the server with pygal, each with a text alternative.

A chart is an ``<img>`` whose source is the SVG itself (``data:image/svg+xml``): the console's
Content-Security-Policy allows no inline style or script, and pygal's SVG carries both, which an
image keeps to itself (its script never runs). The ``alt`` text names the chart and lists its
numbers; every page also shows them in a table beside it (``chart_with_table`` in
``macros.html``). Without JavaScript nothing is lost: pygal's tooltips are all it adds.

    chart = line_chart(_("Satisfaction"), [("2026-01", 3.5), ("2026-02", 4.1)], y_range=(1, 5))
    chart = bar_chart(_("Complaints per week"), [("W1", 12), ("W2", 9)])
"""
from __future__ import annotations

import base64
import re
from decimal import Decimal
from typing import Any, Iterable, Sequence

import pygal
from markupsafe import Markup, escape
from pygal.style import Style

from shared.web.console.i18n import _

WIDTH, HEIGHT = 800, 360
#: In the alt text, at most this many points are listed (the table beside it has them all).
ALT_POINTS = 24
_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)
_FONTS = '"Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", "PingFang SC", "Helvetica Neue", Arial, sans-serif'

STYLE = Style(
    background="#ffffff", plot_background="#ffffff", foreground="#1f2933",
    foreground_strong="#111827", foreground_subtle="#6b7280",
    colors=("#1d4ed8", "#b45309", "#047857", "#b91c1c", "#6d28d9", "#0f766e"),
    font_family=_FONTS, label_font_family=_FONTS, major_label_font_family=_FONTS,
    value_font_family=_FONTS, value_label_font_family=_FONTS, tooltip_font_family=_FONTS,
    title_font_family=_FONTS, legend_font_family=_FONTS,
    title_font_size=18, label_font_size=13, major_label_font_size=13, legend_font_size=14,
    value_font_size=13, tooltip_font_size=14, no_data_font_size=24,
)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return float(Decimal(str(value)))


def _config(title: str, **options) -> dict:
    config = dict(title=title, style=STYLE, js=[], disable_xml_declaration=True, width=WIDTH,
                  height=HEIGHT, explicit_size=False, print_values=False, show_legend=False,
                  no_data_text=_("No data yet"))
    config.update(options)
    return config


def _svg(chart) -> str:
    """pygal's SVG without its script, with ``<title>`` and an accessible name."""
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))
    title = str(escape(chart.config.title or ""))
    return svg.replace(">", f' role="img" aria-label="{title}"><title>{title}</title>', 1)


def _alt(title: str, points: Sequence[tuple[Any, Any]]) -> str:
    listed = "; ".join(f"{label}: {'—' if value is None else value}"
                       for label, value in points[:ALT_POINTS])
    more = " …" if len(points) > ALT_POINTS else ""
    return f"{title}. {listed}{more}" if points else f"{title}."


def as_image(svg: str, alt: str, *, css_class: str = "chart") -> Markup:
    source = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")
    return Markup('<img class="{}" src="{}" alt="{}" width="{}" height="{}">').format(
        css_class, source, alt, WIDTH, HEIGHT)


def line_svg(title: str, points: Sequence[tuple[Any, Any]], *, y_range=None, band=None,
             series: str | None = None, band_labels: tuple[str, str] | None = None) -> str:
    """``band``: one ``(low, high)`` for every point (a target zone) or one per point (a
    forecast interval); drawn as two dashed lines named by ``band_labels``."""
    points = list(points)
    many = len(points) > 12
    chart = pygal.Line(**_config(title, x_label_rotation=30 if many else 0,
                                 show_minor_x_labels=not many,
                                 x_labels_major_every=max(1, len(points) // 8) if many else None,
                                 range=tuple(y_range) if y_range else None,
                                 allow_interruptions=True, dots_size=4, stroke_style={"width": 3},
                                 show_legend=band is not None, legend_at_bottom=True))
    chart.x_labels = [str(label) for label, _value in points]
    chart.add(series or title, [_number(value) for _label, value in points])
    if band is not None:
        bands = list(band)
        if len(bands) == 2 and not isinstance(bands[0], (tuple, list)):
            bands = [tuple(bands)] * len(points)
        low_label, high_label = band_labels or (_("Lower bound"), _("Upper bound"))
        dashed = {"width": 2, "dasharray": "6, 4"}
        chart.add(low_label, [_number(low) for low, _high in bands], show_dots=False, stroke_style=dashed)
        chart.add(high_label, [_number(high) for _low, high in bands], show_dots=False, stroke_style=dashed)
    return _svg(chart)


def bar_svg(title: str, items: Iterable[tuple[Any, Any]], *, horizontal: bool = False) -> str:
    items = list(items)
    kind = pygal.HorizontalBar if horizontal else pygal.Bar
    many = len(items) > 8 and not horizontal
    chart = kind(**_config(title, x_label_rotation=30 if many else 0, print_values=len(items) <= 12,
                           print_values_position="top"))
    chart.x_labels = [str(label) for label, _value in items]
    chart.add(title, [_number(value) for _label, value in items])
    return _svg(chart)


def line_chart(title: str, points: Sequence[tuple[Any, Any]], *, y_range=None, band=None,
               series: str | None = None, band_labels: tuple[str, str] | None = None) -> Markup:
    """A line over ``points`` (``(label, value)``, a ``None`` value leaves a gap); ``y_range``
    ``(min, max)`` fixes the axis; ``band`` adds a lower and an upper line (see ``line_svg``)."""
    points = list(points)
    return as_image(line_svg(title, points, y_range=y_range, band=band, series=series,
                             band_labels=band_labels), _alt(title, points))


def bar_chart(title: str, items: Iterable[tuple[Any, Any]], *, horizontal: bool = False) -> Markup:
    """One bar per ``(label, value)``."""
    items = list(items)
    return as_image(bar_svg(title, items, horizontal=horizontal), _alt(title, items))
