"""What the survey console says about surveys: names of statuses, link states and question
types, labels of the builder's fields, the domain's messages in the reader's language, and a
definition shaped for reading.

The domain speaks English (its messages are the API's); a page in Chinese shows each message
through ``console_messages.DOMAIN_MESSAGES`` (patterns), and in English when no pattern fits.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from services.survey.domain.definition import QuestionType
from shared.errors import ActionNotAllowed, Conflict
from shared.web.console import _, current_language

LANGUAGE_NAMES = {"zh-CN": "中文", "en": "English"}


def language_name(language: str) -> str:
    """A language by its own name (as language switches show them)."""
    return LANGUAGE_NAMES.get(language, language)


def survey_statuses() -> dict[str, str]:
    return {"draft": _("Draft"), "active": _("Active"), "closed": _("Closed")}


def survey_status(status: str) -> str:
    return survey_statuses().get(status, status)


def link_states() -> dict[str, str]:
    return {"open": _("Open"), "answered": _("Answered"), "revoked": _("Revoked"),
            "expired": _("Expired"), "closed": _("Survey closed")}


def question_types() -> dict[str, str]:
    return {
        QuestionType.NPS.value: _("NPS (0–10, likely to recommend)"),
        QuestionType.CSAT.value: _("CSAT (1–5, satisfaction)"),
        QuestionType.CES.value: _("CES (1–7, ease)"),
        QuestionType.RATING.value: _("Rating (1 to a chosen scale)"),
        QuestionType.SINGLE_CHOICE.value: _("Single choice"),
        QuestionType.MULTI_CHOICE.value: _("Multiple choice"),
        QuestionType.TEXT.value: _("Text"),
    }


def question_type(value: str) -> str:
    return question_types().get(value, value)


# -- the domain's messages in the reader's language -----------------------------------------
def domain_message(message: str) -> str:
    if current_language() == "en":
        return message
    from services.survey.web.console_messages import DOMAIN_MESSAGES
    for pattern, translation in DOMAIN_MESSAGES:
        match = re.fullmatch(pattern, message)
        if match:
            return translation.format(*match.groups())
    return message


def conflict_message(refused: Conflict) -> str:
    if isinstance(refused, ActionNotAllowed):
        actions = {"edit": _("changed"), "publish": _("published"), "invite": _("invited to"),
                   "close": _("closed"), "revoke": _("revoked"), "resend": _("sent again")}
        state = {**survey_statuses(), **link_states()}.get(refused.status, refused.status)
        return _("This cannot be %(action)s while it is %(state)s.",
                 action=actions.get(refused.action, refused.action), state=state)
    return domain_message(refused.detail)


# -- labels of the builder's fields ---------------------------------------------------------
def field_label(path: str) -> str:
    """``questions.1.options.0.label.en`` → "Question 2 · Option 1 · Label (English)"."""
    parts = path.split(".")
    shown: list[str] = []
    while parts:
        head = parts.pop(0)
        if head == "questions" and parts and parts[0].isdigit():
            shown.append(_("Question %(n)s", n=int(parts.pop(0)) + 1))
        elif head == "options" and parts and parts[0].isdigit():
            shown.append(_("Option %(n)s", n=int(parts.pop(0)) + 1))
        elif head in ("title", "intro", "text", "label") and parts:
            shown.append(_("%(field)s (%(language)s)", field=_simple_label(head),
                           language=language_name(parts.pop(0))))
        elif head == "languages":
            shown.append(_simple_label(head))
            break
        else:
            shown.append(_simple_label(head))
    return " · ".join(shown)


def _simple_label(name: str) -> str:
    return {
        "title": _("Title"), "intro": _("Introduction"), "languages": _("Languages"),
        "questions": _("Questions"), "text": _("Question text"), "label": _("Label"),
        "key": _("Key"), "type": _("Type"), "required": _("Required"), "weight": _("Weight"),
        "scale": _("Scale"), "options": _("Options"), "score": _("Score"),
        "send_after_complaint_resolved": _("Send after a complaint is resolved"),
        "version": _("Version"), "definition": _("Survey"),
    }.get(name, name)


@dataclass(frozen=True)
class ShownErrors:
    """Errors as a page shows them: by field name (next to the field), and for the error
    summary by the name of the field, or of the part of the form holding it, that its link
    leads to (``_body``: no link)."""

    by_field: dict[str, list[str]]
    summary: dict[str, list[str]]


def draft_errors(errors: Mapping[str, Sequence[str]], draft, *,
                 translated: bool = False) -> ShownErrors:
    anchors = anchor_names(draft)
    by_field: dict[str, list[str]] = {}
    summary: dict[str, list[str]] = {}
    for path, messages in errors.items():
        texts = [message if translated else domain_message(message) for message in messages]
        by_field.setdefault(path, []).extend(texts)
        target = nearest(path, anchors) or "_body"
        summary.setdefault(target, []).extend(f"{field_label(path)}: {text}" for text in texts)
    return ShownErrors(by_field, summary)


def anchor_names(draft) -> set[str]:
    """Every builder field (and fieldset) with an id (``field-<name>``) on the page."""
    names = ["languages", "send_after_complaint_resolved", "questions"]
    shown = draft.shown_languages
    names += [f"{kind}.{language}" for kind in ("title", "intro") for language in shown]
    for index, question in enumerate(draft.questions):
        path = f"questions.{index}"
        names += [path, f"{path}.key", f"{path}.required"]
        names += [f"{path}.text.{language}" for language in shown]
        if question.scored:
            names.append(f"{path}.weight")
        if question.type == QuestionType.RATING:
            names.append(f"{path}.scale")
        if question.has_options:
            names.append(f"{path}.options")
            for number, _option in enumerate(question.options):
                option = f"{path}.options.{number}"
                names += [option, f"{option}.key"]
                names += [f"{option}.label.{language}" for language in shown]
                if question.options_scored:
                    names.append(f"{option}.score")
    return set(names)


def nearest(path: str, anchors: set[str]) -> str | None:
    parts = path.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in anchors:
            return candidate
        parts.pop()
    return None


# -- a definition for reading ---------------------------------------------------------------
def definition_view(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The stored definition with its types named, for the read-only survey page."""
    return {
        "languages": list(definition.get("languages") or []),
        "title": dict(definition.get("title") or {}),
        "intro": dict(definition.get("intro") or {}),
        "questions": [{**question, "type_name": question_type(str(question.get("type")))}
                      for question in definition.get("questions") or []],
    }
