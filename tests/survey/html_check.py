"""An HTML check for the pages the survey service serves.

``html_problems(text)`` parses the page with html5lib, the WHATWG parsing algorithm, and lists
every parse error it reports — the errors ``html5lib.HTMLParser(strict=True)`` raises on (a
missing doctype, attributes run together, a stray end tag, a duplicate attribute, …) — then
checks what a parser accepts but a validator or a screen reader does not: duplicate ids, a
``for``/``aria-describedby``/``aria-labelledby``/``#fragment`` naming no element, a form control
without a label, an ``img`` without ``alt``, a missing ``lang``, ``title`` or ``h1``.
"""
from __future__ import annotations

from collections import Counter
from xml.etree import ElementTree

import html5lib

LABELABLE = {"input", "textarea", "select", "button", "meter", "output", "progress"}
UNLABELLED_INPUTS = {"hidden", "submit", "button", "reset", "image"}


def parse(text: str) -> tuple[ElementTree.Element, list[str]]:
    parser = html5lib.HTMLParser(strict=False, namespaceHTMLElements=False)
    document = parser.parse(text)
    errors = [f"line {line}, column {column}: {code} {data or ''}".rstrip()
              for (line, column), code, data in parser.errors]
    return document, errors


def html_problems(text: str) -> list[str]:
    document, problems = parse(text)
    if not text.lstrip().lower().startswith("<!doctype html>"):
        problems.append("the page does not start with <!doctype html>")
    elements = list(document.iter())
    ids = Counter(element.get("id") for element in elements if element.get("id") is not None)
    problems += [f"duplicate id {name!r} ({count} times)" for name, count in ids.items() if count > 1]
    problems += [f"empty id on <{element.tag}>" for element in elements if element.get("id") == ""]
    by_id = {element.get("id"): element for element in elements if element.get("id")}
    parents = {child: parent for parent in elements for child in parent}

    for element in elements:
        for attribute in ("aria-describedby", "aria-labelledby"):
            for name in (element.get(attribute) or "").split():
                if name not in by_id:
                    problems.append(f"<{element.tag}> {attribute} names no element: {name!r}")
        if attribute_present(element, "aria-describedby") and not element.get("aria-describedby").strip():
            problems.append(f"<{element.tag}> has an empty aria-describedby")
        href = element.get("href") or ""
        if element.tag == "a" and href.startswith("#") and href[1:] not in by_id:
            problems.append(f"link to #{href[1:]} names no element")
        if element.tag == "img" and element.get("alt") is None:
            problems.append(f"<img src={element.get('src')!r}> has no alt")

    labelled: set[str] = set()
    for label in document.iter("label"):
        target = label.get("for")
        if target is None:
            continue
        if target not in by_id:
            problems.append(f"<label for={target!r}> names no element")
        elif by_id[target].tag not in LABELABLE:
            problems.append(f"<label for={target!r}> names a <{by_id[target].tag}>")
        labelled.add(target)
    for control in elements:
        if control.tag not in ("input", "textarea", "select"):
            continue
        if control.tag == "input" and (control.get("type") or "text") in UNLABELLED_INPUTS:
            continue
        if control.get("id") in labelled or control.get("aria-label") \
                or control.get("aria-labelledby") or inside(control, "label", parents):
            continue
        problems.append(f"<{control.tag} name={control.get('name')!r}> has no label")

    html = document if document.tag == "html" else document.find(".//html")
    if html is None or not html.get("lang"):
        problems.append("<html> has no lang")
    title = document.find(".//title")
    if title is None or not "".join(title.itertext()).strip():
        problems.append("the page has no <title>")
    headings = document.findall(".//h1")
    if len(headings) != 1:
        problems.append(f"the page has {len(headings)} <h1> elements, not one")
    return problems


def attribute_present(element: ElementTree.Element, name: str) -> bool:
    return name in element.attrib


def inside(element: ElementTree.Element, tag: str, parents: dict) -> bool:
    current = parents.get(element)
    while current is not None:
        if current.tag == tag:
            return True
        current = parents.get(current)
    return False


def assert_valid_html(response) -> str:
    """The page's text, after checking it is a complete, valid HTML page."""
    text = response.get_data(as_text=True) if hasattr(response, "get_data") else response
    problems = html_problems(text)
    assert not problems, "invalid HTML:\n" + "\n".join(problems) + "\n\n" + text
    return text
