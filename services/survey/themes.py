"""Feedback themes of stored responses: the query around ``domain.themes``, and its configuration.

* The comments are read from the stored responses every time (nothing is kept aside), so a
  comment scrubbed by ``client.erased`` (``consumers.erase_free_text``) is gone from every
  theme, count and example at once.
* ``from``/``to`` are calendar dates in ``CLIENTLOOP_TIMEZONE`` (responses by submission time);
  ``language`` keeps the responses given in that language.
* Configuration: the shipped stop words and synonyms, extended by the file that
  ``CLIENTLOOP_THEMES_FILE`` names (``domain.themes.parse_config`` reads it); a file that cannot
  be read stops the service at start with a message saying which line is wrong.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.survey import service
from services.survey.adapters.orm import ResponseRecord, SurveyRecord
from services.survey.domain.definition import QuestionType
from services.survey.domain.scoring import DEFAULT_FEEDBACK_RULES, FeedbackRules
from services.survey.domain.themes import (Comment, ConfigError, ThemeConfig, analyse,
                                           comment_of, default_config, parse_config)
from services.survey.results import _within, period
from shared.clock import as_utc

THEMES_FILE = "CLIENTLOOP_THEMES_FILE"
#: Responses read from the database at a time.
BATCH = 1000


def config_from_env(env: Mapping[str, str]) -> ThemeConfig:
    """The shipped configuration, extended by ``CLIENTLOOP_THEMES_FILE`` when it is set."""
    path = env.get(THEMES_FILE)
    if not path:
        return default_config()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SystemExit(f"{THEMES_FILE}: cannot read {path}: {error}") from None
    try:
        return parse_config(text)
    except ConfigError as error:
        raise SystemExit(f"{THEMES_FILE} ({path}): {error}") from None


def comments(session: Session, *, survey_id: str | None, start: date | None, end: date | None,
             language: str | None, timezone: str) -> Iterator[Comment]:
    """The comments of the responses in the period (of one survey, or of every survey)."""
    lower, upper = period(start, end, timezone)
    surveys = select(SurveyRecord)
    if survey_id is not None:
        surveys = surveys.where(SurveyRecord.id == survey_id)
    text_keys: dict[str, list[str]] = {}
    for survey in session.execute(surveys).scalars():
        keys = [question.key for question in service.definition_of(survey).questions
                if question.type is QuestionType.TEXT]
        if keys:
            text_keys[survey.id] = keys
    if not text_keys:
        return
    response = ResponseRecord
    statement = _within(select(response.id, response.survey_id, response.language,
                               response.answers, response.score, response.nps,
                               response.submitted_at)
                        .where(response.survey_id.in_(sorted(text_keys))),
                        response.submitted_at, lower, upper)
    if language is not None:
        statement = statement.where(response.language == language)
    statement = statement.order_by(response.submitted_at, response.id)
    for row in session.execute(statement.execution_options(yield_per=BATCH)):
        text = comment_of(row.answers or {}, text_keys[row.survey_id])
        if text:
            yield Comment(response_id=row.id, text=text, language=row.language,
                          submitted_at=as_utc(row.submitted_at),
                          score=None if row.score is None else Decimal(str(row.score)),
                          nps=row.nps,
                          survey_id=None if survey_id is not None else row.survey_id)


def themes(session: Session, *, survey_id: str | None, start: date | None, end: date | None,
           language: str | None, timezone: str, config: ThemeConfig,
           rules: FeedbackRules = DEFAULT_FEEDBACK_RULES, page: int = 1,
           per_page: int = 50) -> dict[str, Any]:
    """``{"survey_id", "from", "to", "language", "responses_with_text", "items",
    "detractor_drivers", "page", "per_page", "total"}``: ``items`` is one page of the themes
    (by mentions), ``total`` how many themes there are; the drivers are all of them."""
    found = analyse(comments(session, survey_id=survey_id, start=start, end=end,
                             language=language, timezone=timezone), config, rules)
    items = found["items"]
    first = (page - 1) * per_page
    return {"survey_id": survey_id, "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None, "language": language,
            "responses_with_text": found["responses_with_text"],
            "items": items[first:first + per_page],
            "detractor_drivers": found["detractor_drivers"],
            "page": page, "per_page": per_page, "total": len(items)}
