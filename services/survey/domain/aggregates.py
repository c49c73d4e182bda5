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

Every figure is computed from a ``Tally`` (counts and sums), which ``tally`` makes from facts
and a database can make by counting (``results.py``); tallies of disjoint sets add up.

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


@dataclass(frozen=True)
class Tally:
    """The counts and sums every figure of ``M`` is computed from, however they were gathered
    (from facts here, or counted by the database for a large survey). Tallies of disjoint
    sets add up."""

    responses: int = 0
    scored: int = 0
    score_sum: Decimal = Decimal(0)
    nps_promoters: int = 0
    nps_passives: int = 0
    nps_detractors: int = 0
    csat_answered: int = 0
    csat_satisfied: int = 0
    ces_answered: int = 0
    ces_sum: int = 0
    invitations: int = 0
    invitations_answered: int = 0

    def __add__(self, other: "Tally") -> "Tally":
        return Tally(**{name: getattr(self, name) + getattr(other, name)
                        for name in self.__dataclass_fields__})


def tally(responses: Iterable[ResponseFacts], invitations: Iterable[InvitationFacts],
          rules: FeedbackRules = DEFAULT_FEEDBACK_RULES) -> Tally:
    responses = list(responses)
    invitations = list(invitations)
    scores = [response.score for response in responses if response.score is not None]
    categories = [nps_category(answer, rules)
                  for answer in _answers_to_first(responses, QuestionType.NPS)]
    csat = _answers_to_first(responses, QuestionType.CSAT)
    ces = _answers_to_first(responses, QuestionType.CES)
    return Tally(
        responses=len(responses), scored=len(scores), score_sum=sum(scores, Decimal(0)),
        nps_promoters=categories.count("promoter"), nps_passives=categories.count("passive"),
        nps_detractors=categories.count("detractor"), csat_answered=len(csat),
        csat_satisfied=sum(1 for answer in csat if answer >= rules.csat_satisfied_min),
        ces_answered=len(ces), ces_sum=sum(ces),
        invitations=len(invitations),
        invitations_answered=sum(1 for invitation in invitations if invitation.answered))


def metrics(counted: Tally, rules: FeedbackRules = DEFAULT_FEEDBACK_RULES) -> dict[str, Any]:
    """The ``M`` object of a tally."""
    places = rules.places
    answered = counted.nps_promoters + counted.nps_passives + counted.nps_detractors
    nps = None
    if answered:
        nps = round_half_up(Fraction(counted.nps_promoters - counted.nps_detractors, answered)
                            * 100, places)
    return {
        "responses": counted.responses,
        "invitations": counted.invitations,
        "response_rate": percentage(counted.invitations_answered, counted.invitations, places),
        "score_mean": _mean_of(counted.score_sum, counted.scored, places),
        "nps": {"score": nps, "promoters": counted.nps_promoters,
                "passives": counted.nps_passives, "detractors": counted.nps_detractors,
                "answered": answered},
        "csat": {"score": percentage(counted.csat_satisfied, counted.csat_answered, places),
                 "answered": counted.csat_answered},
        "ces": {"score": _mean_of(counted.ces_sum, counted.ces_answered, places),
                "answered": counted.ces_answered},
    }


def summarise(responses: Iterable[ResponseFacts], invitations: Iterable[InvitationFacts],
              rules: FeedbackRules = DEFAULT_FEEDBACK_RULES) -> dict[str, Any]:
    """The ``M`` object over these responses and invitations."""
    return metrics(tally(responses, invitations, rules), rules)


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


def _mean_of(total: int | Decimal, count: int, places: int) -> Decimal | None:
    if not count:
        return None
    return round_half_up(Fraction(total) / count, places)
