"""Results of a survey over a set of responses: the ``M`` object of ``GET …/results``.

    {"responses", "invitations", "response_rate", "score_mean",
     "nps": {"score", "promoters", "passives", "detractors", "answered"},
     "csat": {"score", "answered"}, "ces": {"score", "answered"}}

* NPS = % promoters − % detractors over the responses that answered the survey's first NPS
  question; CSAT = % of answers to the first CSAT question that are 4 or 5; CES = mean answer
  to the first CES question. A response that skipped the question does not count. These are
  the same answers the feedback event carries.
* ``score_mean`` is the mean of the responses' stored scores, responses without a score left
  out.
* ``response_rate`` = % of the invitations counted that have been answered. It is taken over
  invitations, not responses, so it stays within 0–100 when groups split a survey by month
  (invited in one month, answered in the next).
* Every percentage and mean is rounded half-up to 2 decimals; each is ``None`` when there is
  nothing to take it over.

Groups (``group_by=month|kind|tier``) put each response and each invitation under a key: the
month (``YYYY-MM`` in the installation's time zone) of the response's submission or the
invitation's creation, or the client's kind or tier (``"unknown"`` when not known).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any, TypeVar

from .definition import QuestionType, SurveyDefinition
from .rounding import percentage, round_half_up
from .scoring import DEFAULT_FEEDBACK_RULES, FeedbackRules, first_answer, nps_category

UNKNOWN_GROUP = "unknown"


@dataclass(frozen=True)
class ResponseFacts:
    """What results need to know about one response."""

    definition: SurveyDefinition
    answers: Mapping[str, Any]
    score: Decimal | None
    submitted_at: datetime
    client_kind: str | None = None
    client_tier: str | None = None


@dataclass(frozen=True)
class InvitationFacts:
    """What results need to know about one invitation sent."""

    created_at: datetime
    answered: bool
    client_kind: str | None = None
    client_tier: str | None = None


class GroupBy(StrEnum):
    MONTH = "month"
    KIND = "kind"
    TIER = "tier"


def summarise(responses: Iterable[ResponseFacts], invitations: Iterable[InvitationFacts],
              rules: FeedbackRules = DEFAULT_FEEDBACK_RULES) -> dict[str, Any]:
    """The ``M`` object over these responses and invitations."""
    responses = list(responses)
    invitations = list(invitations)
    places = rules.places
    answered_invitations = sum(1 for invitation in invitations if invitation.answered)
    scores = [response.score for response in responses if response.score is not None]
    return {
        "responses": len(responses),
        "invitations": len(invitations),
        "response_rate": percentage(answered_invitations, len(invitations), places),
        "score_mean": _mean(scores, places),
        "nps": _nps(responses, rules),
        "csat": _csat(responses, rules),
        "ces": _ces(responses, places),
    }


def summarise_groups(responses: Iterable[ResponseFacts],
                     invitations: Iterable[InvitationFacts], group_by: str, timezone: tzinfo,
                     rules: FeedbackRules = DEFAULT_FEEDBACK_RULES) -> list[dict[str, Any]]:
    """``[{"key", …M}]``, one per key that has a response or an invitation, sorted by key."""
    key = group_key(group_by, timezone)
    responses_by_key = partition(responses, key)
    invitations_by_key = partition(invitations, key)
    return [{"key": group, **summarise(responses_by_key.get(group, ()),
                                       invitations_by_key.get(group, ()), rules)}
            for group in sorted(responses_by_key.keys() | invitations_by_key.keys())]


Item = TypeVar("Item")


def partition(items: Iterable[Item], key: Callable[[Item], str]) -> dict[str, list[Item]]:
    """Items under their key, each group keeping the items' order."""
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def group_key(group_by: str,
              timezone: tzinfo) -> Callable[[ResponseFacts | InvitationFacts], str]:
    """The key function for ``group_by``, applicable to responses and invitations alike."""
    match GroupBy(group_by):
        case GroupBy.MONTH:
            return lambda item: month_of(_moment(item), timezone)
        case GroupBy.KIND:
            return lambda item: item.client_kind or UNKNOWN_GROUP
        case GroupBy.TIER:
            return lambda item: item.client_tier or UNKNOWN_GROUP


def month_of(moment: datetime, timezone: tzinfo) -> str:
    """``YYYY-MM`` of an aware moment as seen in ``timezone``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("A moment must be timezone-aware.")
    return moment.astimezone(timezone).strftime("%Y-%m")


def _moment(item: ResponseFacts | InvitationFacts) -> datetime:
    return item.submitted_at if isinstance(item, ResponseFacts) else item.created_at


def _answers_to_first(responses: Sequence[ResponseFacts],
                      question_type: QuestionType) -> list[int]:
    answers = (first_answer(r.definition, r.answers, question_type) for r in responses)
    return [answer for answer in answers if answer is not None]


def _nps(responses: Sequence[ResponseFacts], rules: FeedbackRules) -> dict[str, Any]:
    categories = [nps_category(answer, rules)
                  for answer in _answers_to_first(responses, QuestionType.NPS)]
    promoters = categories.count("promoter")
    detractors = categories.count("detractor")
    answered = len(categories)
    score = None
    if answered:
        score = round_half_up(Fraction(promoters - detractors, answered) * 100, rules.places)
    return {"score": score, "promoters": promoters, "passives": categories.count("passive"),
            "detractors": detractors, "answered": answered}


def _csat(responses: Sequence[ResponseFacts], rules: FeedbackRules) -> dict[str, Any]:
    answers = _answers_to_first(responses, QuestionType.CSAT)
    satisfied = sum(1 for answer in answers if answer >= rules.csat_satisfied_min)
    return {"score": percentage(satisfied, len(answers), rules.places), "answered": len(answers)}


def _ces(responses: Sequence[ResponseFacts], places: int) -> dict[str, Any]:
    answers = _answers_to_first(responses, QuestionType.CES)
    return {"score": _mean(answers, places), "answered": len(answers)}


def _mean(values: Sequence[int | Decimal], places: int) -> Decimal | None:
    if not values:
        return None
    return round_half_up(sum(Fraction(value) for value in values) / len(values), places)
