"""The survey builder's form: a draft definition as HTML form fields, and back.

The console's builder works without JavaScript: the whole draft is one form, and every button
posts all of it with an ``op`` saying what to do — ``save``; ``add`` (a question of the type
chosen in ``new_type``); ``up.N``, ``down.N``, ``remove.N`` (question N);
``add-option.N``; ``remove-option.N.M``. Adding leaves the draft unsaved (a new question has
no text yet); every other button saves, through the same use case as the API's ``PATCH``.

Fields are named by the dotted paths the domain's errors use (``title.en``,
``questions.2.options.0.label.zh-CN``), so each error lands next to its field. Numbers the form
cannot read are passed on as typed, for the domain to refuse with its own message. Nothing here
knows Flask: a form is a mapping of field names to lists of strings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping, Sequence

from services.survey.domain.definition import CHOICE_TYPES, SCORED_TYPES, QuestionType
from services.survey.domain.languages import LANGUAGES

#: The most rows a posted form is read for; the domain refuses more than its own limits.
MAX_QUESTIONS = 200
MAX_OPTIONS = 100
SAVE = "save"
ADD = "add"
_OP = re.compile(r"(up|down|remove|add-option)\.(\d{1,3})|remove-option\.(\d{1,3})\.(\d{1,3})")


@dataclass
class OptionDraft:
    key: str = ""
    label: dict[str, str] = field(default_factory=dict)
    score: str = ""


@dataclass
class QuestionDraft:
    type: str
    key: str = ""
    text: dict[str, str] = field(default_factory=dict)
    required: bool = False
    weight: str = ""
    scale: str = ""
    options: list[OptionDraft] = field(default_factory=list)

    @property
    def scored(self) -> bool:
        return self.type in SCORED_TYPES

    @property
    def has_options(self) -> bool:
        return self.type in CHOICE_TYPES

    @property
    def options_scored(self) -> bool:
        return self.type == QuestionType.SINGLE_CHOICE


@dataclass
class Draft:
    """What the builder shows: the definition as the user typed it (every value a string)."""

    languages: list[str] = field(default_factory=lambda: list(LANGUAGES))
    title: dict[str, str] = field(default_factory=dict)
    intro: dict[str, str] = field(default_factory=dict)
    send_after_complaint_resolved: bool = False
    questions: list[QuestionDraft] = field(default_factory=list)
    version: int | None = None

    @property
    def default_language(self) -> str:
        return self.languages[0] if self.languages else LANGUAGES[0]

    @property
    def shown_languages(self) -> list[str]:
        """The languages the builder has text fields for: the offered ones, and any other
        that texts were typed in (kept, so unticking a language by mistake loses nothing
        until the draft is saved)."""
        typed = {language for texts in self._texts() for language, text in texts.items()
                 if text.strip()}
        return [language for language in LANGUAGES
                if language in self.languages or language in typed]

    def _texts(self):
        yield self.title
        yield self.intro
        for question in self.questions:
            yield question.text
            for option in question.options:
                yield option.label


@dataclass(frozen=True)
class Op:
    """A builder button: ``name`` and the question (and option) it applies to."""

    name: str
    question: int | None = None
    option: int | None = None

    @property
    def saves(self) -> bool:
        return self.name not in (ADD, "add-option")


# -- stored definition → draft --------------------------------------------------------------
def draft_of(definition: Mapping[str, Any], version: int | None = None) -> Draft:
    """The stored (canonical) definition as the builder shows it."""
    return Draft(
        languages=list(definition.get("languages") or []),
        title=dict(definition.get("title") or {}),
        intro=dict(definition.get("intro") or {}),
        send_after_complaint_resolved=bool(definition.get("send_after_complaint_resolved")),
        questions=[_question_draft(question) for question in definition.get("questions") or []],
        version=version)


def _question_draft(question: Mapping[str, Any]) -> QuestionDraft:
    return QuestionDraft(
        type=str(question.get("type", "")), key=str(question.get("key", "")),
        text=dict(question.get("text") or {}), required=bool(question.get("required")),
        weight=_shown(question.get("weight")), scale=_shown(question.get("scale")),
        options=[OptionDraft(key=str(option.get("key", "")), label=dict(option.get("label") or {}),
                             score=_shown(option.get("score")))
                 for option in question.get("options") or []])


def _shown(number: Any) -> str:
    return "" if number is None else str(number)


# -- posted form → draft --------------------------------------------------------------------
def draft_from_form(form: Mapping[str, Sequence[str]]) -> Draft:
    """The draft as posted: every field kept as typed, whatever it holds."""
    def one(name: str) -> str:
        values = form.get(name) or [""]
        return values[0] if isinstance(values[0], str) else ""

    def texts(prefix: str) -> dict[str, str]:
        return {language: one(f"{prefix}.{language}") for language in LANGUAGES
                if f"{prefix}.{language}" in form}

    offered = [language for language in LANGUAGES if language in (form.get("languages") or [])]
    default = one("default_language")
    languages = ([default] if default in offered else []) + [
        language for language in offered if language != default]
    questions = []
    for index in range(_count(one("question_count"), MAX_QUESTIONS)):
        path = f"questions.{index}"
        questions.append(QuestionDraft(
            type=one(f"{path}.type"), key=one(f"{path}.key").strip(), text=texts(f"{path}.text"),
            required=bool(one(f"{path}.required")), weight=one(f"{path}.weight").strip(),
            scale=one(f"{path}.scale").strip(),
            options=[OptionDraft(key=one(f"{path}.options.{number}.key").strip(),
                                 label=texts(f"{path}.options.{number}.label"),
                                 score=one(f"{path}.options.{number}.score").strip())
                     for number in range(_count(one(f"{path}.option_count"), MAX_OPTIONS))]))
    return Draft(languages=languages, title=texts("title"), intro=texts("intro"),
                 send_after_complaint_resolved=bool(one("send_after_complaint_resolved")),
                 questions=questions, version=version_of(one("version")))


def _count(value: str, most: int) -> int:
    return min(int(value), most) if value.isdigit() and len(value) <= 4 else 0


def version_of(value: str) -> int | None:
    """A posted ``version`` field; ``None`` (no check) when absent or not a number."""
    return int(value) if value.isdigit() and len(value) <= 9 else None


def op_from_form(form: Mapping[str, Sequence[str]]) -> Op:
    """The button pressed; anything unrecognised saves."""
    value = (form.get("op") or [SAVE])[0]
    if value == ADD:
        return Op(ADD)
    match = _OP.fullmatch(value or "")
    if match is None:
        return Op(SAVE)
    if match.group(1):
        return Op(match.group(1), int(match.group(2)))
    return Op("remove-option", int(match.group(3)), int(match.group(4)))


# -- what the buttons do --------------------------------------------------------------------
def apply(draft: Draft, op: Op, new_type: str | None = None) -> Draft:
    """The draft after the button; an index out of range changes nothing."""
    questions = list(draft.questions)
    index = op.question
    if op.name == ADD:
        if new_type in {kind.value for kind in QuestionType}:
            questions.append(blank_question(new_type, [q.key for q in questions]))
        return replace(draft, questions=questions)
    if index is None or not 0 <= index < len(questions):
        return draft
    if op.name == "remove":
        del questions[index]
    elif op.name in ("up", "down"):
        other = index - 1 if op.name == "up" else index + 1
        if 0 <= other < len(questions):
            questions[index], questions[other] = questions[other], questions[index]
    elif op.name == "add-option":
        question = questions[index]
        questions[index] = replace(question, options=[
            *question.options, blank_option([option.key for option in question.options])])
    elif op.name == "remove-option":
        question = questions[index]
        if op.option is not None and 0 <= op.option < len(question.options):
            questions[index] = replace(question, options=[
                option for number, option in enumerate(question.options) if number != op.option])
    return replace(draft, questions=questions)


def blank_question(question_type: str, taken: Sequence[str]) -> QuestionDraft:
    """A new question of ``question_type``: a free key, a 1–5 scale for a rating, two option
    rows for a choice."""
    question = QuestionDraft(type=question_type, key=free_key(question_type, taken))
    if question_type == QuestionType.RATING:
        question.scale = "5"
    if question.has_options:
        question.options = [blank_option([])]
        question.options.append(blank_option([question.options[0].key]))
    return question


def blank_option(taken: Sequence[str]) -> OptionDraft:
    return OptionDraft(key=free_key("option", taken, always_number=True))


def free_key(stem: str, taken: Sequence[str], *, always_number: bool = False) -> str:
    """``stem`` (or ``stem_2``, ``stem_3``, …) not in ``taken``."""
    if not always_number and stem not in taken:
        return stem
    number = 1 if always_number else 2
    while f"{stem}_{number}" in taken:
        number += 1
    return f"{stem}_{number}"


# -- draft → definition (what the use case validates) ---------------------------------------
def definition_of_draft(draft: Draft) -> dict[str, Any]:
    """The definition to save: texts in the offered languages only (others are dropped), a
    blank intro left out, blank numbers left to their defaults, numbers as numbers."""
    languages = list(draft.languages)
    intro = _texts(draft.intro, languages)
    return {
        "languages": languages,
        "title": _texts(draft.title, languages),
        "intro": intro if any(text.strip() for text in intro.values()) else None,
        "send_after_complaint_resolved": draft.send_after_complaint_resolved,
        "questions": [_question(question, languages) for question in draft.questions],
    }


def _texts(texts: Mapping[str, str], languages: Sequence[str]) -> dict[str, str]:
    return {language: texts.get(language, "") for language in languages}


def _question(question: QuestionDraft, languages: Sequence[str]) -> dict[str, Any]:
    shaped: dict[str, Any] = {"key": question.key or None, "type": question.type,
                              "text": _texts(question.text, languages),
                              "required": question.required}
    if question.scored and question.weight:
        shaped["weight"] = number(question.weight)
    if question.type == QuestionType.RATING:
        shaped["scale"] = number(question.scale) if question.scale else None
    if question.has_options:
        shaped["options"] = [_option(option, question, languages) for option in question.options]
    return shaped


def _option(option: OptionDraft, question: QuestionDraft,
            languages: Sequence[str]) -> dict[str, Any]:
    shaped: dict[str, Any] = {"key": option.key or None,
                              "label": _texts(option.label, languages)}
    if question.options_scored and option.score:
        shaped["score"] = number(option.score)
    return shaped


def number(text: str) -> int | Decimal | str:
    """A typed number as an ``int`` or ``Decimal``; anything else as typed, for the domain to
    refuse."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return text
    if not value.is_finite() or len(text) > 30:
        return text
    return int(value) if value == value.to_integral_value() else value
