"""A client's answers, checked against the survey they answer.

Two doors lead here: the JSON endpoint, whose answers must already have the right JSON types,
and the HTML form, whose fields are all strings and go through ``coerce_form_answers`` first.
Both end in ``validate_answers``, so both give the same errors.

Decisions the specification leaves open:

* Errors are keyed ``answers.<question key>`` — the dotted path of the field in the JSON body
  ``{"token", "answers": {...}}``; an answer to a question the survey does not have is an error
  at its own path.
* A question is unanswered when its answer is absent or ``null``, a ``text`` answer that is
  blank, or a ``multi_choice`` answer that is an empty list. Unanswered questions are left out
  of the returned answers.
* Integer answers must be JSON integers: ``true``, ``7.0`` and ``"7"`` are refused.
* Text answers are trimmed; NUL characters are refused (no database stores them).
* ``multi_choice`` answers are returned in the order the survey lists the options.
* Form fields are named after the question keys; other form fields are ignored.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .definition import Question, QuestionType, SurveyDefinition
from .field_errors import FieldErrors

REQUIRED_ANSWER = "This question is required."
_FORM_INTEGER = re.compile(r"\s*[0-9]{1,6}\s*")


@dataclass(frozen=True)
class AnswerRules:
    text_max_length: int = 5000


DEFAULT_ANSWER_RULES = AnswerRules()


def validate_answers(definition: SurveyDefinition, answers: Any,
                     rules: AnswerRules = DEFAULT_ANSWER_RULES) -> dict[str, Any]:
    """Return the answered questions' answers, cleaned, in question order.

    Raises ``ValidationFailed`` naming every wrong or missing answer.
    """
    errors = FieldErrors()
    if not isinstance(answers, Mapping):
        errors.add("answers", "Must be an object mapping question keys to answers.")
        errors.raise_if_any()
    for key in answers:
        if definition.question(key) is None:
            errors.add(f"answers.{key}", "The survey has no such question.")

    cleaned: dict[str, Any] = {}
    for question in definition.questions:
        path = f"answers.{question.key}"
        answer = answers.get(question.key)
        if _is_unanswered(question, answer):
            if question.required:
                errors.add(path, REQUIRED_ANSWER)
            continue
        value, problem = _check(question, answer, rules)
        if problem:
            errors.add(path, problem)
        else:
            cleaned[question.key] = value
    errors.raise_if_any()
    return cleaned


def coerce_form_answers(definition: SurveyDefinition,
                        form: Mapping[str, Sequence[str] | str]) -> dict[str, Any]:
    """Turn HTML form fields (every value a string, possibly repeated) into typed answers.

    ``form`` maps a field name to its values, as ``request.form.to_dict(flat=False)`` gives.
    What cannot be converted is passed on unchanged, for ``validate_answers`` to refuse with
    its usual message.
    """
    typed: dict[str, Any] = {}
    for question in definition.questions:
        raw = form.get(question.key, ())
        values = [raw] if isinstance(raw, str) else list(raw)
        filled = [value for value in values if isinstance(value, str) and value.strip()]
        if question.type is QuestionType.MULTI_CHOICE:
            typed[question.key] = [value.strip() for value in filled]
        elif not filled:
            typed[question.key] = None
        elif len(filled) > 1:
            typed[question.key] = filled
        elif question.answer_range is not None and _FORM_INTEGER.fullmatch(filled[0]):
            typed[question.key] = int(filled[0])
        elif question.type is QuestionType.SINGLE_CHOICE:
            typed[question.key] = filled[0].strip()
        else:
            typed[question.key] = filled[0]
    return typed


def _is_unanswered(question: Question, answer: Any) -> bool:
    if answer is None:
        return True
    if question.type is QuestionType.TEXT:
        return isinstance(answer, str) and not answer.strip()
    if question.type is QuestionType.MULTI_CHOICE:
        return isinstance(answer, (list, tuple)) and not answer
    return False


def _check(question: Question, answer: Any, rules: AnswerRules) -> tuple[Any, str | None]:
    """The cleaned answer, or a message saying what is wrong with it."""
    if question.answer_range is not None:
        low, high = question.answer_range
        if isinstance(answer, bool) or not isinstance(answer, int) or not low <= answer <= high:
            return None, f"Must be a whole number from {low} to {high}."
        return answer, None
    if question.type is QuestionType.SINGLE_CHOICE:
        if not isinstance(answer, str) or question.option(answer) is None:
            return None, f"Must be one of the options: {_option_keys(question)}."
        return answer, None
    if question.type is QuestionType.MULTI_CHOICE:
        return _check_choices(question, answer)
    return _check_text(answer, rules)


def _check_choices(question: Question, answer: Any) -> tuple[Any, str | None]:
    if not isinstance(answer, (list, tuple)) or not all(isinstance(a, str) for a in answer):
        return None, "Must be a list of option keys."
    for key in answer:
        if question.option(key) is None:
            return None, f"'{key}' is not one of the options: {_option_keys(question)}."
    if len(set(answer)) != len(answer):
        return None, "Each option may be chosen once."
    chosen = set(answer)
    return [option.key for option in question.options if option.key in chosen], None


def _check_text(answer: Any, rules: AnswerRules) -> tuple[Any, str | None]:
    if not isinstance(answer, str):
        return None, "Must be a text."
    text = answer.strip()
    if "\x00" in text:
        return None, "Must not contain NUL characters."
    if len(text) > rules.text_max_length:
        return None, f"Must be at most {rules.text_max_length} characters."
    return text, None


def _option_keys(question: Question) -> str:
    return ", ".join(option.key for option in question.options)
