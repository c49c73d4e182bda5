"""Dates, numbers, money and deadlines as the reader's language writes them (Babel), in
``CLIENTLOOP_TIMEZONE``. Registered as Jinja filters: ``datetime``, ``date``, ``number``,
``percent``, ``money`` and ``countdown``.

Values may be ``datetime`` objects or the ISO 8601 strings the API returns; a naive time is UTC.
``None`` (or an empty string) is shown as an em dash.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date as date_type, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import current_app

from shared.clock import utcnow
from shared.web.console.i18n import _, current_language

MISSING = "—"
#: A deadline closer than this is coloured ``soon``.
SOON = timedelta(hours=1)
#: Patterns per language (CLDR); ``format=`` takes ``short``/``medium``/``long`` or a pattern.
DATETIME_PATTERNS = {"zh-CN": "yyyy年M月d日 HH:mm", "en": "d MMM yyyy, HH:mm"}
DATE_PATTERNS = {"zh-CN": "yyyy年M月d日", "en": "d MMM yyyy"}


@lru_cache(maxsize=8)
def babel_locale(language: str) -> Locale:
    return Locale.parse(language.replace("-", "_"))


@lru_cache(maxsize=16)
def _zone(name: str):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def _settings():
    return current_app.extensions["clientloop"].settings


def display_zone():
    try:
        return _zone(_settings().timezone)
    except (RuntimeError, KeyError):
        return timezone.utc


def as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date_type):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    raise TypeError(f"not a time: {value!r}")


def format_datetime(value: Any, format: str | None = None, language: str | None = None) -> str:
    moment = as_datetime(value)
    if moment is None:
        return MISSING
    language = language or current_language()
    pattern = format or DATETIME_PATTERNS[language]
    return babel_dates.format_datetime(moment, pattern, tzinfo=display_zone(),
                                       locale=babel_locale(language))


def format_date(value: Any, format: str | None = None, language: str | None = None) -> str:
    if value is None or value == "":
        return MISSING
    language = language or current_language()
    pattern = format or DATE_PATTERNS[language]
    if isinstance(value, str) and len(value) == 10:
        value = date_type.fromisoformat(value)
    if isinstance(value, datetime) or isinstance(value, str):
        value = as_datetime(value).astimezone(display_zone()).date()
    return babel_dates.format_date(value, pattern, locale=babel_locale(language))


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, dict):  # the API's money: {"amount": "12.50", "currency": "CNY"}
        value = value.get("amount")
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def format_number(value: Any, digits: int | None = None, language: str | None = None) -> str:
    number = _decimal(value)
    if number is None:
        return MISSING
    locale = babel_locale(language or current_language())
    if digits is None:
        return babel_numbers.format_decimal(number, locale=locale)
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return babel_numbers.format_decimal(number, format=pattern, locale=locale)


def format_percent(value: Any, digits: int = 0, language: str | None = None) -> str:
    """``0.125`` → ``12.5%`` (a fraction, as the reports give rates)."""
    number = _decimal(value)
    if number is None:
        return MISSING
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "") + "%"
    return babel_numbers.format_percent(number, format=pattern,
                                        locale=babel_locale(language or current_language()))


def format_money(value: Any, currency: str | None = None, language: str | None = None) -> str:
    number = _decimal(value)
    if number is None:
        return MISSING
    if currency is None and isinstance(value, dict):
        currency = value.get("currency")
    if currency is None:
        try:
            currency = _settings().currency
        except (RuntimeError, KeyError):
            currency = "CNY"
    return babel_numbers.format_currency(number, currency,
                                         locale=babel_locale(language or current_language()))


@dataclass(frozen=True)
class Countdown:
    """What a deadline looks like now: ``text`` ("due in 2 h 10 min" / "overdue 35 min") and
    ``css_class`` (``ok``, ``soon`` or ``overdue``). Unpacks as ``text, css_class``."""

    text: str
    css_class: str
    overdue: bool

    def __iter__(self):
        return iter((self.text, self.css_class))

    def __str__(self) -> str:
        return self.text

    def __html__(self) -> str:
        from markupsafe import escape
        return str(escape(self.text))


def duration_text(delta: timedelta) -> str:
    """``2 h 10 min``, ``3 d 4 h`` or ``35 min`` (whole minutes, rounded down; at least 1)."""
    minutes = max(1, int(abs(delta).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(_("%(n)s d", n=days))
        if hours:
            parts.append(_("%(n)s h", n=hours))
    else:
        if hours:
            parts.append(_("%(n)s h", n=hours))
        if mins or not hours:
            parts.append(_("%(n)s min", n=mins))
    return " ".join(parts)


def countdown(deadline: Any, now: Any = None, *, soon: timedelta = SOON) -> Countdown | None:
    """The time left before ``deadline`` (``None`` → ``None``), coloured by urgency."""
    moment = as_datetime(deadline)
    if moment is None:
        return None
    if now is None:
        try:
            now = current_app.extensions["clientloop"].clock()
        except (RuntimeError, KeyError):
            now = utcnow()
    left = moment - as_datetime(now)
    if left.total_seconds() <= 0:
        return Countdown(_("overdue %(time)s", time=duration_text(left)), "overdue", True)
    css = "soon" if left < soon else "ok"
    return Countdown(_("due in %(time)s", time=duration_text(left)), css, False)


FILTERS = {
    "datetime": format_datetime,
    "date": format_date,
    "number": format_number,
    "percent": format_percent,
    "money": format_money,
    "countdown": countdown,
}
