"""The console's two languages: which one a request gets, and its texts.

English source strings are the keys; each package adds its translations with
:func:`register_messages` (``{"zh-CN": {"Sign in": "登录", …}}``). ``en`` needs no catalogue: a
key is its own English text. A string with no translation is shown in English (and a test of
each package fails, see :mod:`shared.web.console.catalogue`).

There is one catalogue per service (``register_messages(MESSAGES, service="survey")``, or
``make_console_blueprint(…, messages=MESSAGES)``) and the shared one (``service=None``: the
layout, sign-in, error pages, formatting). A page looks a text up in its own service's
catalogue first, then in the shared one: the service is the one of the Flask app serving the
request, so where the three services run in one process (the embedded default) two services
may translate the same English text differently and each page shows its own service's words.

Placeholders are named, ``%(name)s`` as in gettext (``_("Hello %(name)s", name=who)``);
``{name}`` also works from Python and templates. In templates ``_`` escapes the values it puts
into the text, so a client's name is shown as text.

The language: the ``clientloop_lang`` cookie (the switch in the navigation bar sets it, for the
whole site), else the browser's ``Accept-Language``, else ``CLIENTLOOP_DEFAULT_LANGUAGE``.
"""
from __future__ import annotations

from collections import ChainMap
from typing import Any, Mapping

from flask import current_app, g, has_app_context, has_request_context, request
from jinja2 import pass_eval_context
from markupsafe import Markup, escape

LANGUAGES = ("zh-CN", "en")
LANGUAGE_COOKIE = "clientloop_lang"
SHARED = None
"""The ``service`` of the shared catalogue, the one every service's pages fall back to."""

Messages = Mapping[str, Mapping[str, str]]
#: service (``None``: shared) → the catalogues it registered, the latest first. Kept, not
#: copied: a catalogue is a module's constant.
_CATALOGUES: dict[str | None, list[Messages]] = {SHARED: []}


def register_messages(messages: Messages, service: str | None = SHARED) -> None:
    """Add a package's translations (``{"zh-CN": {english: chinese}}``) to ``service``'s
    catalogue (its pages only), or with no ``service`` to the shared one (every page). Within
    one catalogue, later registrations win; registering the same mapping again changes
    nothing."""
    for language in messages:
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
    registered = _CATALOGUES.setdefault(service, [])
    if not any(known is messages for known in registered):
        registered.insert(0, messages)


def _chain(service: str | None) -> list[Messages]:
    own = _CATALOGUES.get(service, []) if service is not SHARED else []
    return [*own, *_CATALOGUES[SHARED]]


def catalogue(language: str, service: str | None = SHARED) -> Mapping[str, str]:
    """The texts a page of ``service`` can show in ``language``: its own catalogue's, then the
    shared one's (``service=None``: the shared catalogue alone)."""
    return ChainMap(*(messages.get(language, {}) for messages in _chain(service)))


def current_service() -> str | None:
    """The service whose page this is: the one of the app serving the request (``None``
    outside an app, or in an app with no service: the shared catalogue alone)."""
    if not has_app_context():
        return SHARED
    blueprint = current_app.extensions.get("clientloop_console")
    service = getattr(blueprint, "console_service", None)
    if service is None:
        service = getattr(current_app.extensions.get("clientloop"), "service", None)
    return service


def default_language() -> str:
    try:
        return current_app.extensions["clientloop"].settings.default_language
    except (RuntimeError, KeyError, AttributeError):
        return LANGUAGES[0]


def current_language() -> str:
    """``"zh-CN"`` or ``"en"`` for this request (outside a request: the default language)."""
    if not has_request_context():
        return default_language()
    chosen = g.get("console_language")
    if chosen is None:
        chosen = request.cookies.get(LANGUAGE_COOKIE)
        if chosen not in LANGUAGES:
            chosen = request.accept_languages.best_match(LANGUAGES, default=None) \
                or _primary_match() or default_language()
        g.console_language = chosen
    return chosen


def _primary_match() -> str | None:
    """``zh``, ``zh-Hans`` or ``zh-TW`` → zh-CN; ``en-GB`` → en (the first the browser lists)."""
    for value, _quality in request.accept_languages:
        primary = value.split("-")[0].split("_")[0].lower()
        for language in LANGUAGES:
            if language.split("-")[0].lower() == primary:
                return language
    return None


def translate(text: str, language: str | None = None) -> str:
    language = language or current_language()
    if language == "en":
        return text
    for messages in _chain(current_service()):
        translated = messages.get(language, {}).get(text)
        if translated is not None:
            return translated
    return text


def interpolate(text: str, values: Mapping[str, Any]) -> str:
    if not values:
        return text
    if "%(" in text:
        return text % values
    return text.format(**values)


def _(text: str, **values: Any) -> str:
    """``text`` in the current language, with ``values`` put in."""
    return interpolate(translate(text), values)


gettext = _


def N_(text: str) -> str:
    """Mark ``text`` for translation where it is defined; it is translated where shown."""
    return text


def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
    """The singular or plural form for ``n`` (Chinese has one form: both keys translate to it);
    ``%(num)s`` (or ``%(n)s``) is ``n``."""
    text = singular if n == 1 else plural
    values = {"num": n, "n": n, **values}
    return interpolate(translate(text), values)


# -- for templates: the values put in are escaped -------------------------------------------
def _escaped(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value if isinstance(value, (int, float)) else escape(value)
            for key, value in values.items()}


@pass_eval_context
def template_gettext(eval_ctx, text: str, **values: Any):
    translated = translate(text)
    if not eval_ctx.autoescape:
        return interpolate(translated, values)
    return Markup(interpolate(str(escape(translated)), _escaped(values)))


@pass_eval_context
def template_ngettext(eval_ctx, singular: str, plural: str, n: int, **values: Any):
    translated = translate(singular if n == 1 else plural)
    values = {"num": n, "n": n, **values}
    if not eval_ctx.autoescape:
        return interpolate(translated, values)
    return Markup(interpolate(str(escape(translated)), _escaped(values)))
