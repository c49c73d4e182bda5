"""Which texts a package shows, so a test can check each has a Chinese translation.

:func:`texts_in_templates` finds the strings given to ``_``/``gettext``/``ngettext`` and the
``{% trans %}`` blocks of Jinja templates; :func:`texts_in_python` the string literals given to
``_``/``gettext``/``ngettext``/``N_`` in Python files. A text computed at run time (a variable
passed to ``_``) is found by neither: mark its literal with ``N_("…")`` where it is defined.

    assert missing_translations(texts_in_templates(folder) | texts_in_python(files),
                                service="registry") == []
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterable

from jinja2 import Environment

from shared.web.console.i18n import N_, catalogue  # noqa: F401 - N_ is marked here too

FUNCTIONS = ("_", "gettext", "ngettext", "N_")


def texts_in_template_source(source: str) -> set[str]:
    env = Environment(extensions=["jinja2.ext.i18n"])
    texts: set[str] = set()
    for _line, _function, message in env.extract_translations(source, gettext_functions=FUNCTIONS):
        for text in (message if isinstance(message, tuple) else (message,)):
            if isinstance(text, str) and text:
                texts.add(text)
    return texts


def texts_in_templates(folder: str | Path) -> set[str]:
    texts: set[str] = set()
    for path in sorted(Path(folder).rglob("*.html")):
        texts |= texts_in_template_source(path.read_text(encoding="utf-8"))
    return texts


def texts_in_python(paths: Iterable[str | Path]) -> set[str]:
    texts: set[str] = set()
    for path in paths:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name not in FUNCTIONS:
                continue
            count = 2 if name == "ngettext" else 1
            for argument in node.args[:count]:
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    texts.add(argument.value)
    return texts


def missing_translations(texts: Iterable[str], language: str = "zh-CN",
                         service: str | None = None) -> list[str]:
    """The texts with no translation in ``language`` on ``service``'s pages: in neither its
    own catalogue nor the shared one (``service=None``: the shared one alone), as registered
    with ``register_messages``."""
    known = catalogue(language, service)
    return sorted(text for text in set(texts) if text not in known)
