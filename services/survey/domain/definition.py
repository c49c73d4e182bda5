"""What a survey asks: its title, languages and questions, checked against the product rules.

``validate_survey_definition`` is the one entry point: it takes the definition as staff sent it
(plain JSON values) and returns a ``SurveyDefinition`` or raises ``ValidationFailed`` naming
every broken field by dotted path (``title.zh-CN``, ``questions.2.options``,
``questions.0.text.en``). Stored definitions are loaded back through the same function, and
``SurveyDefinition.to_dict()`` gives the canonical JSON form to store and show.

Rules the specification leaves open, decided here:

* A definition has exactly the fields ``title``, ``intro``, ``languages``, ``questions`` and
  ``send_after_complaint_resolved``; questions and options have exactly their documented
  fields. Unknown fields are errors (a misspelt ``requried`` must not silently mean optional).
  A JSON ``null`` counts as an absent optional field.
* A text per language must cover every declared language, and may not name other languages.
  ``intro``, when given, follows the same rule. Texts are trimmed; lengths are limited
  (``DefinitionRules``).
* Option keys look like question keys but may start with a digit (``"1"``, ``"a"``,
  ``"very_good"``).
* ``weight`` is a number > 0 and ≤ 100 on scored types (default 1); an option ``score`` is a
  number 0–100 on ``single_choice`` options only: ``multi_choice`` is never scored, so a score
  there would mislead whoever reads the definition.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Any

from .field_errors import REQUIRED, FieldErrors, reject_unknown_fields
from .languages import LANGUAGES, check_localised_text

QUESTION_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
OPTION_KEY = re.compile(r"[a-z0-9][a-z0-9_]{0,39}")


class QuestionType(StrEnum):
    NPS = "nps"
    CSAT = "csat"
    CES = "ces"
    RATING = "rating"
    SINGLE_CHOICE = "single_choice"
    MULTI_CHOICE = "multi_choice"
    TEXT = "text"


#: Types whose answers can be normalised to 0–100; only these take a ``weight``.
SCORED_TYPES = frozenset({QuestionType.NPS, QuestionType.CSAT, QuestionType.CES,
                          QuestionType.RATING, QuestionType.SINGLE_CHOICE})
CHOICE_TYPES = frozenset({QuestionType.SINGLE_CHOICE, QuestionType.MULTI_CHOICE})
#: Answer ranges of the integer types with a fixed scale (``rating`` takes 1–``scale``).
FIXED_SCALES: dict[QuestionType, tuple[int, int]] = {
    QuestionType.NPS: (0, 10),
    QuestionType.CSAT: (1, 5),
    QuestionType.CES: (1, 7),
}

DEFINITION_FIELDS = frozenset({"title", "intro", "languages", "questions",
                               "send_after_complaint_resolved"})
QUESTION_FIELDS = frozenset({"key", "type", "text", "required", "weight", "scale", "options"})
OPTION_FIELDS = frozenset({"key", "label", "score"})


@dataclass(frozen=True)
class DefinitionRules:
    """Limits on a survey definition; the defaults are the product's."""

    languages: tuple[str, ...] = LANGUAGES
    max_questions: int = 100
    max_options: int = 50
    title_max_length: int = 200
    intro_max_length: int = 2000
    question_text_max_length: int = 1000
    option_label_max_length: int = 200
    min_rating_scale: int = 3
    max_rating_scale: int = 10
    max_weight: Decimal = Decimal(100)
    max_option_score: Decimal = Decimal(100)


DEFAULT_DEFINITION_RULES = DefinitionRules()


@dataclass(frozen=True)
class Option:
    key: str
    label: Mapping[str, str]
    score: Decimal | None = None


@dataclass(frozen=True)
class Question:
    key: str
    type: QuestionType
    text: Mapping[str, str]
    required: bool = False
    weight: Decimal | None = None
    """Weight in the response score; ``None`` on types that are never scored."""
    scale: int | None = None
    options: tuple[Option, ...] = ()

    @property
    def answer_range(self) -> tuple[int, int] | None:
        """Lowest and highest integer answer, for the integer types; else ``None``."""
        if self.type is QuestionType.RATING:
            return (1, self.scale) if self.scale else None
        return FIXED_SCALES.get(self.type)

    def option(self, key: str) -> Option | None:
        return next((option for option in self.options if option.key == key), None)

    def to_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"key": self.key, "type": self.type.value,
                                 "text": dict(self.text), "required": self.required}
        if self.weight is not None:
            shown["weight"] = _json_number(self.weight)
        if self.scale is not None:
            shown["scale"] = self.scale
        if self.type in CHOICE_TYPES:
            shown["options"] = [_option_dict(option) for option in self.options]
        return shown


@dataclass(frozen=True)
class SurveyDefinition:
    title: Mapping[str, str]
    languages: tuple[str, ...]
    questions: tuple[Question, ...]
    intro: Mapping[str, str] | None = None
    send_after_complaint_resolved: bool = False

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def question(self, key: str) -> Question | None:
        return next((question for question in self.questions if question.key == key), None)

    def first_of(self, question_type: QuestionType) -> Question | None:
        """The survey's first question of a type: the one whose answer feedback events carry."""
        return next((q for q in self.questions if q.type is question_type), None)

    @cached_property
    def memo(self) -> dict:
        """Values computed from this definition alone, kept with it (a definition never
        changes): e.g. the score of each combination of answers (``scoring``)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": dict(self.title),
            "intro": dict(self.intro) if self.intro is not None else None,
            "languages": list(self.languages),
            "send_after_complaint_resolved": self.send_after_complaint_resolved,
            "questions": [question.to_dict() for question in self.questions],
        }


def validate_survey_definition(definition: Any,
                               rules: DefinitionRules = DEFAULT_DEFINITION_RULES
                               ) -> SurveyDefinition:
    """Check a definition sent by staff and return it as a ``SurveyDefinition``.

    Raises ``ValidationFailed`` with every problem found, keyed by dotted path.
    """
    errors = FieldErrors()
    if not isinstance(definition, Mapping):
        errors.add("definition", "Must be an object.")
        errors.raise_if_any()
    reject_unknown_fields(definition, DEFINITION_FIELDS, "", errors)

    languages = _languages(definition.get("languages"), rules, errors)
    title = _required_localised(definition.get("title"), "title", languages,
                                rules.title_max_length, errors)
    intro = None
    if definition.get("intro") is not None:
        intro = check_localised_text(definition["intro"], "intro", languages,
                                     rules.intro_max_length, errors)
    send_after = _flag(definition, "send_after_complaint_resolved", "", errors)
    questions = _questions(definition.get("questions"), languages, rules, errors)

    errors.raise_if_any()
    return SurveyDefinition(title=title, languages=languages, questions=questions, intro=intro,
                            send_after_complaint_resolved=send_after)


def _languages(value: Any, rules: DefinitionRules, errors: FieldErrors) -> tuple[str, ...]:
    if value is None:
        errors.add("languages", REQUIRED)
        return ()
    if not isinstance(value, list):
        errors.add("languages", "Must be a list of language codes.")
        return ()
    if not value:
        errors.add("languages", "Name at least one language.")
        return ()
    accepted: list[str] = []
    for index, language in enumerate(value):
        if not isinstance(language, str) or language not in rules.languages:
            errors.add(f"languages.{index}",
                       f"Unsupported language; choose from {', '.join(rules.languages)}.")
        elif language in accepted:
            errors.add(f"languages.{index}", f"'{language}' is listed twice.")
        else:
            accepted.append(language)
    return tuple(accepted)


def _required_localised(value: Any, path: str, languages: tuple[str, ...], max_length: int,
                        errors: FieldErrors) -> dict[str, str] | None:
    if value is None:
        errors.add(path, REQUIRED)
        return None
    return check_localised_text(value, path, languages, max_length, errors)


def _flag(container: Mapping, name: str, path: str, errors: FieldErrors) -> bool:
    value = container.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        errors.add(f"{path}.{name}" if path else name, "Must be true or false.")
        return False
    return value


def _questions(value: Any, languages: tuple[str, ...], rules: DefinitionRules,
               errors: FieldErrors) -> tuple[Question, ...]:
    if value is None:
        errors.add("questions", REQUIRED)
        return ()
    if not isinstance(value, list):
        errors.add("questions", "Must be a list of questions.")
        return ()
    if not value:
        errors.add("questions", "A survey needs at least one question.")
        return ()
    if len(value) > rules.max_questions:
        errors.add("questions", f"A survey has at most {rules.max_questions} questions.")
        return ()
    questions: list[Question] = []
    seen_keys: set[str] = set()
    for index, raw in enumerate(value):
        path = f"questions.{index}"
        question = _question(raw, path, languages, rules, errors)
        key = raw.get("key") if isinstance(raw, Mapping) else None
        if isinstance(key, str) and QUESTION_KEY.fullmatch(key):
            if key in seen_keys:
                errors.add(f"{path}.key", f"Another question already uses the key '{key}'.")
            seen_keys.add(key)
        if question is not None:
            questions.append(question)
    return tuple(questions)


def _question(raw: Any, path: str, languages: tuple[str, ...], rules: DefinitionRules,
              errors: FieldErrors) -> Question | None:
    if not isinstance(raw, Mapping):
        errors.add(path, "Must be an object.")
        return None
    before = errors.count()
    reject_unknown_fields(raw, QUESTION_FIELDS, path, errors)

    key = raw.get("key")
    if key is None:
        errors.add(f"{path}.key", REQUIRED)
    elif not isinstance(key, str) or not QUESTION_KEY.fullmatch(key):
        errors.add(f"{path}.key", "Must start with a lowercase letter and use only lowercase "
                                  "letters, digits and underscores (at most 40 characters).")

    question_type = _question_type(raw.get("type"), f"{path}.type", errors)
    text = _required_localised(raw.get("text"), f"{path}.text", languages,
                               rules.question_text_max_length, errors)
    required = _flag(raw, "required", path, errors)
    weight = _weight(raw.get("weight"), question_type, f"{path}.weight", rules, errors)
    scale = _scale(raw.get("scale"), question_type, f"{path}.scale", rules, errors)
    options = _options(raw.get("options"), question_type, f"{path}.options", languages, rules,
                       errors)

    if errors.count() != before or question_type is None:
        return None
    return Question(key=key, type=question_type, text=text, required=required, weight=weight,
                    scale=scale, options=options)


def _question_type(value: Any, path: str, errors: FieldErrors) -> QuestionType | None:
    if value is None:
        errors.add(path, REQUIRED)
        return None
    try:
        return QuestionType(value)
    except ValueError:
        errors.add(path, "Unknown question type; choose from "
                         f"{', '.join(t.value for t in QuestionType)}.")
        return None


def _weight(value: Any, question_type: QuestionType | None, path: str, rules: DefinitionRules,
            errors: FieldErrors) -> Decimal | None:
    if question_type is None:
        return None
    if question_type not in SCORED_TYPES:
        if value is not None:
            errors.add(path, f"{question_type.value} questions are not scored and take no weight.")
        return None
    if value is None:
        return Decimal(1)
    weight = _number(value)
    if weight is None or not Decimal(0) < weight <= rules.max_weight:
        errors.add(path, f"Must be a number greater than 0 and at most {rules.max_weight}.")
        return None
    return weight


def _scale(value: Any, question_type: QuestionType | None, path: str, rules: DefinitionRules,
           errors: FieldErrors) -> int | None:
    if question_type is None:
        return None
    if question_type is not QuestionType.RATING:
        if value is not None:
            errors.add(path, "Only rating questions have a scale.")
        return None
    low, high = rules.min_rating_scale, rules.max_rating_scale
    if value is None:
        errors.add(path, f"A rating question needs a scale from {low} to {high}.")
        return None
    if not _is_integer(value) or not low <= value <= high:
        errors.add(path, f"Must be a whole number from {low} to {high}.")
        return None
    return value


def _options(value: Any, question_type: QuestionType | None, path: str,
             languages: tuple[str, ...], rules: DefinitionRules,
             errors: FieldErrors) -> tuple[Option, ...]:
    if question_type is None:
        return ()
    if question_type not in CHOICE_TYPES:
        if value is not None:
            errors.add(path, "Only single_choice and multi_choice questions have options.")
        return ()
    if value is None:
        errors.add(path, "A choice question needs at least 2 options.")
        return ()
    if not isinstance(value, list):
        errors.add(path, "Must be a list of options.")
        return ()
    if len(value) < 2:
        errors.add(path, "A choice question needs at least 2 options.")
        return ()
    if len(value) > rules.max_options:
        errors.add(path, f"A question has at most {rules.max_options} options.")
        return ()
    options: list[Option] = []
    seen_keys: set[str] = set()
    for index, raw in enumerate(value):
        option_path = f"{path}.{index}"
        option = _option(raw, option_path, question_type, languages, rules, errors)
        key = raw.get("key") if isinstance(raw, Mapping) else None
        if isinstance(key, str) and OPTION_KEY.fullmatch(key):
            if key in seen_keys:
                errors.add(f"{option_path}.key", f"Another option already uses the key '{key}'.")
            seen_keys.add(key)
        if option is not None:
            options.append(option)
    return tuple(options)


def _option(raw: Any, path: str, question_type: QuestionType, languages: tuple[str, ...],
            rules: DefinitionRules, errors: FieldErrors) -> Option | None:
    if not isinstance(raw, Mapping):
        errors.add(path, "Must be an object.")
        return None
    before = errors.count()
    reject_unknown_fields(raw, OPTION_FIELDS, path, errors)
    key = raw.get("key")
    if key is None:
        errors.add(f"{path}.key", REQUIRED)
    elif not isinstance(key, str) or not OPTION_KEY.fullmatch(key):
        errors.add(f"{path}.key", "Must start with a lowercase letter or digit and use only "
                                  "lowercase letters, digits and underscores "
                                  "(at most 40 characters).")
    label = _required_localised(raw.get("label"), f"{path}.label", languages,
                                rules.option_label_max_length, errors)
    score = None
    if raw.get("score") is not None:
        if question_type is not QuestionType.SINGLE_CHOICE:
            errors.add(f"{path}.score",
                       f"Options of {question_type.value} questions are not scored.")
        else:
            score = _number(raw["score"])
            if score is None or not Decimal(0) <= score <= rules.max_option_score:
                errors.add(f"{path}.score",
                           f"Must be a number from 0 to {rules.max_option_score}.")
    if errors.count() != before:
        return None
    return Option(key=key, label=label, score=score)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> Decimal | None:
    """A finite JSON number as an exact ``Decimal`` (``0.1`` → ``Decimal("0.1")``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    return number if number.is_finite() else None


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _option_dict(option: Option) -> dict[str, Any]:
    shown: dict[str, Any] = {"key": option.key, "label": dict(option.label)}
    if option.score is not None:
        shown["score"] = _json_number(option.score)
    return shown
