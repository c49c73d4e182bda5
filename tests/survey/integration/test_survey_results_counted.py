"""The results the database counts (``results.results``: responses grouped by their first
NPS, CSAT and CES answers, per month by index range) are the domain's own computation over
every response (``aggregates.summarise``), for random data, every grouping and a time zone
whose months start at a half hour; on SQLite here, on PostgreSQL in test_survey_on_postgres."""
from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from services.survey import results, service
from services.survey.adapters.orm import (ClientEntry, InvitationRecord, ResponseRecord,
                                          SurveyRecord)
from services.survey.domain.aggregates import (InvitationFacts, ResponseFacts, summarise,
                                               summarise_groups)
from services.survey.domain.definition import validate_survey_definition
from services.survey.domain.scoring import first_answers
from tests.survey.survey_support import survey_fields

ZONE = "Asia/Kolkata"  # UTC+05:30: month boundaries fall at 18:30 UTC
START = datetime(2025, 11, 20, tzinfo=timezone.utc)


@pytest.fixture
def random_survey(survey_ctx):
    chooser = random.Random(20260110)
    definition = validate_survey_definition(survey_fields())
    survey_id = str(uuid.uuid4())
    clients = [(str(uuid.uuid4()), chooser.choice(["external", "internal", None]),
                chooser.choice(["A", "B", "C", None, ""])) for _ in range(12)]
    responses, invitations = [], []
    for number in range(300):
        client_id, kind, tier = chooser.choice(clients)
        created = START + timedelta(minutes=chooser.randrange(0, 140 * 24 * 60))
        answered = created + timedelta(hours=chooser.randrange(0, 72)) \
            if chooser.random() < 0.8 else None
        invitation_id = str(uuid.uuid4())
        invitations.append(dict(
            id=invitation_id, survey_id=survey_id, client_id=client_id, language="en",
            created_at=created, expires_at=created + timedelta(days=30), answered_at=answered,
            created_by="test", link_base="http://x/survey", delivery="none",
            delivery_status="not_requested", delivery_attempts=0, version=1))
        if answered is None:
            continue
        answers = {key: value for key, value in (
            ("recommend", chooser.randrange(0, 11)), ("satisfied", chooser.randrange(1, 6)),
            ("effort", chooser.randrange(1, 8))) if chooser.random() < 0.85}
        score = Decimal(chooser.randrange(0, 10001)) / 100 if chooser.random() < 0.9 else None
        responses.append(dict(
            id=str(uuid.uuid4()), survey_id=survey_id, invitation_id=invitation_id,
            client_id=client_id, language="en", answers=answers, score=score,
            scoring_version="test", submitted_at=answered,
            **first_answers(definition, answers).as_dict()))
    now = datetime.now(timezone.utc)
    with survey_ctx.database.transaction() as session:
        session.execute(insert(SurveyRecord), [dict(
            id=survey_id, status="active", definition=definition.to_dict(), version=1,
            send_after_complaint_resolved=False, created_by="test", created_at=now,
            updated_at=now)])
        session.execute(insert(ClientEntry), [dict(
            id=client_id, known=True, name="c", kind=kind, tier=tier, contacts=[],
            status="active", updated_at=now) for client_id, kind, tier in clients])
        session.execute(insert(InvitationRecord), invitations)
        session.execute(insert(ResponseRecord), responses)
    kinds = {client_id: (kind, tier) for client_id, kind, tier in clients}
    facts = ([ResponseFacts(definition=definition, answers=row["answers"], score=row["score"],
                            submitted_at=row["submitted_at"],
                            client_kind=kinds[row["client_id"]][0],
                            client_tier=kinds[row["client_id"]][1]) for row in responses],
             [InvitationFacts(created_at=row["created_at"], answered=row["answered_at"] is not None,
                              client_kind=kinds[row["client_id"]][0],
                              client_tier=kinds[row["client_id"]][1]) for row in invitations])
    return survey_id, facts


def _within(facts, lower, upper):
    responses, invitations = facts
    keep = lambda moment: (lower is None or moment >= lower) and (upper is None or moment < upper)
    return ([fact for fact in responses if keep(fact.submitted_at)],
            [fact for fact in invitations if keep(fact.created_at)])


@pytest.mark.parametrize("group_by", [None, "month", "kind", "tier"])
@pytest.mark.parametrize("start, end", [(None, None), (date(2025, 12, 1), date(2026, 1, 31)),
                                        (date(2026, 2, 14), None)])
def test_counted_results_are_the_domains_over_every_response(survey_ctx, random_survey,
                                                             group_by, start, end):
    survey_id, facts = random_survey
    with survey_ctx.database.transaction() as session:
        survey = service.get_survey(session, survey_id)
        counted = results.results(session, survey, start=start, end=end, group_by=group_by,
                                  timezone=ZONE)
    responses, invitations = _within(facts, *results.period(start, end, ZONE))
    assert responses  # the period is not empty
    assert counted["overall"] == summarise(responses, invitations)
    expected = summarise_groups(responses, invitations, group_by, ZoneInfo(ZONE)) \
        if group_by else []
    assert counted["groups"] == expected
    if group_by == "month":
        assert len(counted["groups"]) >= 2


def test_months_between_cross_a_year_and_start_at_local_midnight():
    zone = ZoneInfo("America/New_York")
    months = results.months_between(datetime(2025, 11, 30, 12, tzinfo=timezone.utc),
                                     datetime(2026, 1, 1, 3, tzinfo=timezone.utc), zone)
    assert [key for key, _first, _next in months] == ["2025-11", "2025-12"]
    assert months[1][1] == datetime(2025, 12, 1, 5, tzinfo=timezone.utc)   # EST
    assert months[1][2] == datetime(2026, 1, 1, 5, tzinfo=timezone.utc)
    assert results.months_between(None, None, zone) == []
