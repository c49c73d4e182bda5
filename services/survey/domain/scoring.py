"""How a response is scored and what its feedback event says about it.

| type            | answer                 | normalised to 0–100                     |
|-----------------|------------------------|-----------------------------------------|
| `nps`           | integer 0–10           | 10 × v                                  |
| `csat`          | integer 1–5            | (v − 1) / 4 × 100                       |
| `ces`           | integer 1–7            | (v − 1) / 6 × 100                       |
| `rating`        | integer 1–scale        | (v − 1) / (scale − 1) × 100             |
| `single_choice` | option key             | the option's score, or not scored       |
| `multi_choice`  | option keys            | not scored                              |
| `text`          | string                 | not scored                              |

A response's score is the weighted mean of its normalised scored answers, computed exactly and
rounded half-up to 2 decimals once; ``None`` when no answer was scored (everything skipped,
or only unscored types). A skipped question weighs nothing. Change ``SCORING_VERSION`` with
any change to these rules: each response stores the version that scored it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from .definition import SCORED_TYPES, Question, QuestionType, SurveyDefinition
from .rounding import round_half_up

SCORING_VERSION = "2026-11-1"


@dataclass(frozen=True)
class FeedbackRules:
    """Bands used to read NPS and CSAT answers (the industry's usual ones by default)."""

    promoter_min: int = 9
    detractor_max: int = 6
    csat_satisfied_min: int = 4
    places: int = 2


DEFAULT_FEEDBACK_RULES = FeedbackRules()


def normalise(question: Question, answer: Any) -> Fraction | None:
    """The answer on the 0–100 scale, or ``None`` when this answer is not scored."""
    if answer is None:
        return None
    match question.type:
        case QuestionType.NPS:
            return Fraction(answer) * 10
        case QuestionType.CSAT:
            return Fraction(answer - 1, 4) * 100
        case QuestionType.CES:
            return Fraction(answer - 1, 6) * 100
        case QuestionType.RATING:
            return Fraction(answer - 1, question.scale - 1) * 100
        case QuestionType.SINGLE_CHOICE:
            option = question.option(answer)
            return Fraction(option.score) if option and option.score is not None else None
    return None


#: How many scores one definition keeps, about 0.2 MB (an NPS, a CSAT and a CES question
#: together, each answered or skipped, make 576 combinations); past it, scores are computed.
MEMO_SIZE = 1024
_NOT_SCORED = object()


def score_response(definition: SurveyDefinition, answers: Mapping[str, Any],
                   places: int = 2) -> Decimal | None:
    """Weighted mean of the normalised scored answers (answers as ``validate_answers`` returns).

    Exact rational arithmetic costs a few dozen ``Fraction`` operations a response, and the
    scored questions' answers take few values: each combination's score is computed once per
    definition and kept with it (``SurveyDefinition.memo``)."""
    memo = definition.memo
    scored = memo.get("scored")
    if scored is None:
        scored = memo["scored"] = tuple(question.key for question in definition.questions
                                        if question.type in SCORED_TYPES)
    # Equal answers score equally (1, 1.0 and True normalise alike; a choice key is a string).
    key = ("score", places, *map(answers.get, scored))
    try:
        found = memo.get(key)
    except TypeError:   # an answer that cannot be a key (not one validate_answers returns)
        found = key = None
    if found is None:
        found = _score(definition, answers, places)
        if key is not None and len(memo) < MEMO_SIZE:
            memo[key] = found
    return None if found is _NOT_SCORED else found


def _score(definition: SurveyDefinition, answers: Mapping[str, Any],
           places: int) -> Decimal | object:
    weighted_sum = Fraction(0)
    total_weight = Fraction(0)
    for question in definition.questions:
        normalised = normalise(question, answers.get(question.key))
        if normalised is None:
            continue
        weight = Fraction(question.weight)
        weighted_sum += weight * normalised
        total_weight += weight
    if not total_weight:
        return _NOT_SCORED
    return round_half_up(weighted_sum / total_weight, places)


def nps_category(answer: int | None,
                 rules: FeedbackRules = DEFAULT_FEEDBACK_RULES) -> str | None:
    """``promoter`` (9–10), ``passive`` (7–8), ``detractor`` (0–6), or ``None`` if unanswered."""
    if answer is None:
        return None
    if answer >= rules.promoter_min:
        return "promoter"
    if answer <= rules.detractor_max:
        return "detractor"
    return "passive"


def first_answer(definition: SurveyDefinition, answers: Mapping[str, Any],
                 question_type: QuestionType) -> Any:
    """The answer to the survey's first question of a type (``None`` if none or skipped)."""
    question = definition.first_of(question_type)
    return answers.get(question.key) if question else None


@dataclass(frozen=True)
class FirstAnswers:
    """The raw answers to the survey's first NPS, CSAT and CES questions (``None``: the survey
    has no such question, or it was skipped). The feedback event carries them, the response
    row keeps them in columns of the same names, and results count them: one computation."""

    nps: int | None
    csat: int | None
    ces: int | None

    def as_dict(self) -> dict[str, int | None]:
        return {"nps": self.nps, "csat": self.csat, "ces": self.ces}


def first_answers(definition: SurveyDefinition, answers: Mapping[str, Any]) -> FirstAnswers:
    """The answers to the survey's first NPS, CSAT and CES questions."""
    return FirstAnswers(nps=first_answer(definition, answers, QuestionType.NPS),
                        csat=first_answer(definition, answers, QuestionType.CSAT),
                        ces=first_answer(definition, answers, QuestionType.CES))


def feedback_fields(definition: SurveyDefinition, answers: Mapping[str, Any],
                    rules: FeedbackRules = DEFAULT_FEEDBACK_RULES) -> dict[str, Any]:
    """The ``survey.response.submitted`` fields read from the answers.

    ``nps``, ``csat`` and ``ces`` are the raw answers to the survey's first question of that
    type (``first_answers``); ``comment`` is the first text answer actually given (a skipped
    first text question does not hide a later one).
    """
    first = first_answers(definition, answers)
    comment = next((answers[q.key] for q in definition.questions
                    if q.type is QuestionType.TEXT and answers.get(q.key)), None)
    return {
        "nps": first.nps,
        "nps_category": nps_category(first.nps, rules),
        "csat": first.csat,
        "ces": first.ces,
        "comment": comment,
    }
