"""The client form of the console (new and edit) and the list's query string, read into what
the use cases take.

Shape is checked by the API's own schema (``ClientInSchema``: lengths, email addresses, the
grid, a category of the kind, the installation's currency), so the form accepts exactly what
the API accepts; its messages are replaced here by one message per field in the reader's
language. A client has a few contact rows (blank rows are ignored), tags separated by commas.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Mapping

import marshmallow as ma

from services.registry import service
from services.registry.adapters.orm import ClientRecord
from services.registry.api.schemas import BANDS, STATUSES, TIERS, ClientInSchema
from services.registry.domain.clients import KINDS
from shared.web.console import _
from shared.web.problems import flatten_messages

CONTACT_FIELDS = ("name", "email", "phone", "role")
MAX_CONTACTS = 50
SPARE_CONTACT_ROWS = 2
MIN_CONTACT_ROWS = 3
MAX_PAGE = 100_000
MAX_FILTER_LENGTH = 200
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_TAG_SEPARATORS = re.compile(r"[,，、\n]")


# -- the list's query string ------------------------------------------------------------------

@dataclass
class ListQuery:
    """The client list's filters as typed (shown back in the form) and the page asked for."""

    filters: dict[str, str] = field(default_factory=dict)
    page: int = 1


LIST_CHOICES: Mapping[str, tuple[str, ...]] = {
    "kind": tuple(KINDS), "tier": TIERS, "health_band": BANDS, "status": (*STATUSES, "all"),
}


def read_list_query(args: Mapping[str, str]) -> ListQuery:
    """Filters from the query string; a value that is not one of the choices is ignored."""
    filters: dict[str, str] = {}
    for name, choices in LIST_CHOICES.items():
        value = (args.get(name) or "").strip()
        if value in choices:
            filters[name] = value
    for name in ("q", "owner", "tag"):
        value = _storable((args.get(name) or "").strip())[:MAX_FILTER_LENGTH]
        if value:
            filters[name] = value
    page = (args.get("page") or "").strip()
    number = int(page) if page.isdigit() else 1
    return ListQuery(filters, min(max(number, 1), MAX_PAGE))


def _storable(text: str) -> str:
    return _UNSTORABLE.sub("", text)


# -- the client form --------------------------------------------------------------------------

@dataclass
class ClientForm:
    """What the form shows: the values as typed (strings), and a message per invalid field
    (keyed by the form field's name, e.g. ``contacts-0-email``)."""

    name: str = ""
    kind: str = ""
    category: str = ""
    contacts: list[dict[str, str]] = field(default_factory=list)
    tags: str = ""
    owner: str = ""
    preferred_language: str = ""
    annual_amount: str = ""
    power: str = ""
    interest: str = ""
    engagement_current: str = ""
    engagement_desired: str = ""
    version: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def contact_rows(self) -> list[dict[str, str]]:
        """The typed contacts plus a few blank rows to add more."""
        rows = [dict(contact) for contact in self.contacts]
        spare = max(SPARE_CONTACT_ROWS, MIN_CONTACT_ROWS - len(rows))
        rows += [{name: "" for name in CONTACT_FIELDS} for _ in range(spare)]
        return rows[:MAX_CONTACTS]


def blank_form(default_language: str) -> ClientForm:
    return ClientForm(preferred_language=default_language)


def form_of(client: ClientRecord) -> ClientForm:
    """The form filled in with the client as stored."""
    return ClientForm(
        name=client.name or "", kind=client.kind or "", category=client.category or "",
        contacts=[{name: str(contact.get(name) or "") for name in CONTACT_FIELDS}
                  for contact in client.contacts or []],
        tags=", ".join(client.tags or []), owner=client.owner or "",
        preferred_language=client.preferred_language or "",
        annual_amount="" if client.annual_amount is None else f"{Decimal(client.annual_amount):.2f}",
        power=_text(client.power), interest=_text(client.interest),
        engagement_current=client.engagement_current or "",
        engagement_desired=client.engagement_desired or "", version=str(client.version))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def read_form(form: Mapping[str, str]) -> ClientForm:
    """The form as posted (strings, trimmed; blank contact rows dropped)."""
    def value(name: str) -> str:
        return (form.get(name) or "").strip()

    contacts = []
    for row in range(MAX_CONTACTS + SPARE_CONTACT_ROWS):
        contact = {name: value(f"contacts-{row}-{name}") for name in CONTACT_FIELDS}
        if any(contact.values()):
            contacts.append(contact)
    return ClientForm(
        name=value("name"), kind=value("kind"), category=value("category"), contacts=contacts,
        tags=value("tags"), owner=value("owner"), preferred_language=value("preferred_language"),
        annual_amount=value("annual_amount"), power=value("power"), interest=value("interest"),
        engagement_current=value("engagement_current"),
        engagement_desired=value("engagement_desired"), version=value("version"))


def request_body(form: ClientForm, currency: str) -> dict[str, Any]:
    """The form as the API's request body (``ClientInSchema``'s shape)."""
    amount = form.annual_amount.replace(",", "").replace(" ", "")
    body = {
        "name": form.name, "kind": form.kind, "category": form.category,
        "contacts": [{"name": contact["name"], **{name: contact[name] or None
                                                   for name in CONTACT_FIELDS[1:]}}
                     for contact in form.contacts],
        "tags": [tag.strip() for tag in _TAG_SEPARATORS.split(form.tags) if tag.strip()],
        "owner": form.owner or None,
        "preferred_language": form.preferred_language,
        "annual_value": {"amount": amount, "currency": currency} if amount else None,
        "power": _number(form.power), "interest": _number(form.interest),
        "engagement_current": form.engagement_current or None,
        "engagement_desired": form.engagement_desired or None,
    }
    if not form.preferred_language:  # the installation's default (kept as it is on an edit)
        del body["preferred_language"]
    return body


def _number(text: str) -> int | str | None:
    if not text:
        return None
    return int(text) if text.isdigit() else text


_CLIENT_IN_SCHEMA = ClientInSchema()


def validated(form: ClientForm, currency: str) -> tuple[dict[str, Any] | None, ClientForm]:
    """The client's fields, or None and the form with its errors."""
    body = request_body(form, currency)
    errors = _unstorable_text(body)
    try:
        fields = _CLIENT_IN_SCHEMA.load(body)
    except ma.ValidationError as error:
        fields = None
        for path, messages in flatten_messages(error.messages).items():
            errors.setdefault(path, messages)
    if errors:
        return None, with_errors(form, errors, currency)
    return fields, form


def with_errors(form: ClientForm, errors: Mapping[str, Any], currency: str) -> ClientForm:
    """The form with one message per field for the use case's or schema's ``errors`` (keyed by
    dotted path: ``contacts.0.email``, ``annual_value.amount``…)."""
    shown: dict[str, str] = {}
    for path in errors:
        name = form_field(path)
        shown.setdefault(name, field_message(name, currency))
    return replace(form, errors=shown)


def form_field(path: str) -> str:
    """The form field a dotted error path names."""
    parts = path.split(".")
    if parts[0] == "contacts" and len(parts) >= 3 and parts[1].isdigit():
        return f"contacts-{parts[1]}-{parts[2]}"
    if parts[0] == "contacts":
        return "contacts-0-name"
    if parts[0] == "annual_value":
        return "annual_amount"
    if parts[0] in FORM_FIELDS:
        return parts[0]
    return "name"


FORM_FIELDS = ("name", "kind", "category", "tags", "owner", "preferred_language",
               "annual_amount", "power", "interest", "engagement_current", "engagement_desired")


def field_message(name: str, currency: str) -> str:
    """What to do about an invalid field, in the reader's language."""
    if name.startswith("contacts-"):
        return {
            "name": _("Enter the contact's name, at most 200 characters."),
            "email": _("Enter an email address such as name@example.com."),
            "phone": _("Enter a phone number of at most 50 characters."),
            "role": _("Enter a role of at most 100 characters."),
        }.get(name.rsplit("-", 1)[-1], _("Check this contact."))
    messages = {
        "name": _("Enter the client's name, at most 200 characters."),
        "kind": _("Choose a kind."),
        "category": _("Choose a category of the chosen kind."),
        "tags": _("Enter at most 50 tags, each at most 50 characters, separated by commas."),
        "owner": _("Enter an owner of at most 200 characters."),
        "preferred_language": _("Choose a language."),
        "annual_amount": _("Enter an amount in %(currency)s with at most two decimals, such as "
                           "125000.00.", currency=currency),
        "power": _("Choose a number from 1 to 5."),
        "interest": _("Choose a number from 1 to 5."),
        "engagement_current": _("Choose an engagement level."),
        "engagement_desired": _("Choose an engagement level."),
    }
    return messages.get(name, _("Check this field."))


def _unstorable_text(body: Mapping[str, Any], prefix: str = "") -> dict[str, list[str]]:
    """Paths of text holding a NUL character or an unpaired surrogate (not storable)."""
    found: dict[str, list[str]] = {}
    items = body.items() if isinstance(body, Mapping) else enumerate(body)
    for key, value in items:
        path = f"{prefix}{key}"
        if isinstance(value, str) and _UNSTORABLE.search(value):
            found[path] = ["unstorable"]
        elif isinstance(value, (Mapping, list)):
            found.update(_unstorable_text(value, f"{path}."))
    return found


def changes_of(client: ClientRecord, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that differ from the stored client (so saving an unchanged form changes
    nothing: no new version, no event)."""
    stored = service.client_fields(client)
    return {name: value for name, value in fields.items()
            if _comparable(name, value) != _comparable(name, stored.get(name))}


def _comparable(name: str, value: Any) -> Any:
    if name == "contacts":
        return [{key: item for key, item in contact.items() if item not in (None, "")}
                for contact in value or []]
    if name == "annual_value":
        return None if value is None else (Decimal(value["amount"]), value["currency"])
    if name == "tags":
        return list(value or [])
    return value
