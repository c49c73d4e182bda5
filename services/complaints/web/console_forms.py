"""What the complaints console's forms send, read into the fields the use cases take, and the
names the pages give the complaint vocabulary.

Shape only (which form fields belong to which action, "yes"/"no" to a boolean, a page number);
the rules stay in the domain, which answers ``ValidationFailed`` keyed by field as it does for
the API. Every label here is an English message key translated in ``console_messages.py``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

from services.complaints.adapters.queue import ANY, OPEN, QueueFilters
from services.complaints.domain.fields import ACTION_FIELDS, CORRECTABLE_FIELDS
from services.complaints.domain.vocabulary import CATEGORIES, SEVERITIES
from services.complaints.domain.workflow import STATUSES, Action
from shared.web.console import N_

ACTION_LABELS: Mapping[str, str] = {
    "acknowledge": N_("Acknowledge"), "assign": N_("Assign"), "start": N_("Start"),
    "escalate": N_("Escalate"), "wait": N_("Wait for client"), "resume": N_("Resume"),
    "resolve": N_("Resolve"), "close": N_("Close"), "reopen": N_("Reopen"),
}
"""The button of each workflow action (fixed wording: other systems drive the console by it)."""

TIMELINE_LABELS: Mapping[str, str] = {
    **ACTION_LABELS, "open": N_("Opened"), "note": N_("Internal note"),
    "correct": N_("Triage correction"),
}

STATUS_LABELS: Mapping[str, str] = {
    "new": N_("New"), "acknowledged": N_("Acknowledged"), "in_progress": N_("In progress"),
    "escalated": N_("Escalated"), "awaiting_client": N_("Awaiting client"),
    "resolved": N_("Resolved"), "closed": N_("Closed"),
}

SEVERITY_LABELS: Mapping[str, str] = {
    "low": N_("Low"), "medium": N_("Medium"), "high": N_("High"), "critical": N_("Critical"),
}

CATEGORY_LABELS: Mapping[str, str] = {
    "product": N_("Product"), "service": N_("Service"), "delivery": N_("Delivery"),
    "billing": N_("Billing"), "communication": N_("Communication"), "other": N_("Other"),
}

CHANNEL_LABELS: Mapping[str, str] = {
    "phone": N_("Phone"), "email": N_("Email"), "web": N_("Web"), "meeting": N_("Meeting"),
    "survey": N_("Survey"), "other": N_("Other"),
}

RESOLUTION_LABELS: Mapping[str, str] = {
    "fixed": N_("Fixed"), "refund": N_("Refund"), "replacement": N_("Replacement"),
    "explanation": N_("Explanation"), "goodwill": N_("Goodwill"), "no_action": N_("No action"),
    "other": N_("Other"),
}

FIELD_LABELS: Mapping[str, str] = {
    "client_id": N_("Client"), "channel": N_("Channel"), "category": N_("Category"),
    "severity": N_("Severity"), "title": N_("Title"), "description": N_("Description"),
    "remedy_sought": N_("Remedy sought"), "assignee": N_("Assignee"), "reason": N_("Reason"),
    "resolution_code": N_("Resolution"), "root_cause": N_("Root cause"), "summary": N_("Summary"),
    "client_accepted": N_("Client accepted"), "note": N_("Note"), "text": N_("Note"),
    "action": N_("Action"), "status": N_("Status"), "overdue": N_("Overdue"), "page": N_("Page"),
    "from": N_("From"), "to": N_("To"),
}

CLIENT_STATUS_LABELS: Mapping[str, str] = {
    "active": N_("Active client"), "archived": N_("Archived"), "erased": N_("Erased"),
}

BACKLOG_LABELS: Mapping[str, str] = {
    "lt_1d": N_("Under 1 day"), "1_3d": N_("1 to 3 days"), "3_7d": N_("3 to 7 days"),
    "gt_7d": N_("7 days or more"),
}

ALL_LABELS: tuple[Mapping[str, str], ...] = (
    TIMELINE_LABELS, STATUS_LABELS, SEVERITY_LABELS, CATEGORY_LABELS, CHANNEL_LABELS,
    RESOLUTION_LABELS, FIELD_LABELS, CLIENT_STATUS_LABELS, BACKLOG_LABELS,
)
"""Every vocabulary label the pages translate (a test checks each has a zh-CN text)."""

PER_PAGE = 25
MAX_PAGE = 100_000
MAX_SEARCH = 200
QUEUE_STATUSES = (OPEN, ANY, *(str(status) for status in STATUSES))

# Domain messages (English, shared with the API) the console shows translated; a message with a
# number is matched by its pattern and translated with the number kept.
DOMAIN_MESSAGES = (
    N_("Missing data for required field."), N_("Field may not be null."),
    N_("Must not be blank."), N_("Not a valid string."), N_("Not a valid boolean."),
    N_("Unknown field."), N_("Longer than maximum length %(limit)s."),
    N_("Choose one of the listed values."), N_("Unknown client."),
    N_("The client was erased; no new complaint can name them."),
)
_UNKNOWN_CLIENT = re.compile(r"^Unknown client .*\.$")
_LENGTH = re.compile(r"^Longer than maximum length (\d+)\.$")
_CHOICE = re.compile(r"^Must be one of: .*\.$")


@dataclass
class QueueQuery:
    """The queue's query string, read; ``errors`` names what was not understood."""

    filters: QueueFilters
    mine: bool = False
    page: int = 1
    errors: dict[str, list[str]] = field(default_factory=dict)


def _choice(args: Mapping[str, str], name: str, choices, errors) -> str | None:
    value = (args.get(name) or "").strip()
    if not value:
        return None
    if value not in choices:
        errors[name] = [N_("Choose one of the listed values.")]
        return None
    return value


def read_queue_query(args: Mapping[str, str], me: str) -> QueueQuery:
    """The queue's filters from ``args``; ``mine`` means assigned to ``me``."""
    errors: dict[str, list[str]] = {}
    status = _choice(args, "status", QUEUE_STATUSES, errors) or OPEN
    severity = _choice(args, "severity", SEVERITIES, errors)
    category = _choice(args, "category", CATEGORIES, errors)
    text = (args.get("q") or "").strip()[:MAX_SEARCH] or None
    assignee = (args.get("assignee") or "").strip()[:MAX_SEARCH] or None
    mine = args.get("mine") == "1"
    if mine:
        assignee = me
    page = read_page(args.get("page"), errors)
    filters = QueueFilters(status=status, severity=severity, category=category,
                           assignee=assignee, overdue=args.get("overdue") == "1", text=text)
    return QueueQuery(filters, mine=mine, page=page, errors=errors)


def read_page(value: str | None, errors: dict[str, list[str]]) -> int:
    if value in (None, ""):
        return 1
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        errors["page"] = [N_("Not a page number.")]
        return 1
    return int(value)


def read_version(form: Mapping[str, str]) -> int | None:
    """The version the form was made from (``None``: not sent, not checked)."""
    value = (form.get("version") or "").strip()
    return int(value) if value.isdigit() else None


def action_fields(action: str, form: Mapping[str, str]) -> dict[str, Any]:
    """The fields of ``action`` the form sent (only those the action takes, and ``note``);
    the domain reports the missing and invalid ones."""
    try:
        names = ACTION_FIELDS[Action(action)]
    except ValueError:
        return {}
    fields: dict[str, Any] = {}
    for name in names:
        if name not in form:
            continue
        if name == "client_accepted":
            fields[name] = {"yes": True, "no": False}.get(form[name], form[name])
        else:
            fields[name] = form[name]
    if (form.get("note") or "").strip():
        fields["note"] = form["note"]
    return fields


def correction_fields(form: Mapping[str, str]) -> dict[str, Any]:
    return {name: form[name] for name in CORRECTABLE_FIELDS if name in form}


OPENING_FIELDS = ("client_id", "channel", "category", "severity", "title", "description",
                  "remedy_sought", "assignee")


def opening_fields(form: Mapping[str, str]) -> dict[str, Any]:
    """A new complaint's fields; optional texts left empty are not given."""
    fields = {name: form.get(name, "") for name in OPENING_FIELDS}
    for name in ("remedy_sought", "assignee"):
        if not fields[name].strip():
            fields[name] = None
    return fields


def read_day(value: str | None, name: str, errors: dict[str, list[str]]) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        errors[name] = [N_("Not a valid date (YYYY-MM-DD).")]
        return None
    if not 1900 <= day.year <= 9998:
        errors[name] = [N_("Not a valid date (YYYY-MM-DD).")]
        return None
    return day


def message_key(message: str) -> tuple[str, dict[str, Any]]:
    """A domain message as a catalogue key and its values (the number of a length limit)."""
    length = _LENGTH.match(message)
    if length:
        return "Longer than maximum length %(limit)s.", {"limit": int(length.group(1))}
    if _CHOICE.match(message):
        return "Choose one of the listed values.", {}
    if _UNKNOWN_CLIENT.match(message):
        return "Unknown client.", {}
    return message, {}
