"""What a browser would submit: the successful controls of a form on a page, read with html5lib.

``form_fields(html, form_id)`` lists ``(name, value)`` pairs in document order — text inputs,
hidden inputs, textareas, ticked checkboxes and radios, chosen options — without buttons (the
test adds the button it "presses"). ``FormData`` edits them by name.
"""
from __future__ import annotations

from xml.etree import ElementTree

import html5lib


def _document(html: str) -> ElementTree.Element:
    return html5lib.HTMLParser(namespaceHTMLElements=False).parse(html)


def form_fields(html: str, form_id: str) -> "FormData":
    document = _document(html)
    form = next((element for element in document.iter("form") if element.get("id") == form_id),
                None)
    assert form is not None, f"no form #{form_id} on the page"
    fields: list[tuple[str, str]] = []
    for element in form.iter():
        name = element.get("name")
        if not name or element.get("disabled") is not None:
            continue
        if element.tag == "input":
            kind = (element.get("type") or "text").lower()
            if kind in ("submit", "button", "reset", "image"):
                continue
            if kind in ("checkbox", "radio"):
                if element.get("checked") is not None:
                    fields.append((name, element.get("value") or "on"))
                continue
            fields.append((name, element.get("value") or ""))
        elif element.tag == "textarea":
            fields.append((name, "".join(element.itertext())))
        elif element.tag == "select":
            options = list(element.iter("option"))
            chosen = [option for option in options if option.get("selected") is not None]
            option = chosen[0] if chosen else (options[0] if options else None)
            if option is not None:
                fields.append((name, option.get("value", "".join(option.itertext()))))
    return FormData(fields)


class FormData(list):
    """``(name, value)`` pairs with edits by name."""

    def get(self, name: str) -> str | None:
        return next((value for key, value in self if key == name), None)

    def set(self, name: str, value: str) -> "FormData":
        for index, (key, _old) in enumerate(self):
            if key == name:
                self[index] = (name, value)
                return self
        self.append((name, value))
        return self

    def untick(self, name: str, value: str) -> "FormData":
        self[:] = [(key, old) for key, old in self if not (key == name and old == value)]
        return self

    def tick(self, name: str, value: str) -> "FormData":
        if (name, value) not in self:
            self.append((name, value))
        return self

    def press(self, op: str) -> "FormData":
        return FormData([*[(key, value) for key, value in self if key != "op"], ("op", op)])

    def without(self, name: str) -> "FormData":
        return FormData([(key, value) for key, value in self if key != name])


def texts_of(html: str, selector_id: str) -> str:
    document = _document(html)
    element = next((e for e in document.iter() if e.get("id") == selector_id), None)
    return "" if element is None else " ".join("".join(element.itertext()).split())
