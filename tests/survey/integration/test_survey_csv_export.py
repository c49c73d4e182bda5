"""``GET …/responses?format=csv`` is streamed: the file written here from the rules alone
(header, byte-order mark, every response of the period oldest first, formula cells defused),
sent as it is made from batches of responses, with memory that does not grow with the file. Thousands of
responses, many submitted at the same instant (so batches end inside a run of equal times),
another survey's responses that must not appear. Also run on PostgreSQL
(test_survey_on_postgres)."""
from __future__ import annotations

import csv
import hashlib
import io
import random
import tracemalloc
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import event, insert

from services.survey.adapters.orm import InvitationRecord, ResponseRecord
from services.survey.domain.definition import validate_survey_definition
from services.survey.domain.scoring import first_answers
from tests.survey.survey_support import EVERY_TYPE, active_survey, survey_fields

RESPONSES = 6_000
HEADER = ["response_id", "invitation_id", "client_id", "submitted_at", "language", "score",
          "scoring_version"]
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def cell(answer) -> str:
    if answer is None:
        return ""
    text = ";".join(answer) if isinstance(answer, list) else str(answer)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def expected_csv(rows: list[dict], keys: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER + keys)
    for row in sorted(rows, key=lambda row: (row["submitted_at"], row["id"])):
        writer.writerow([row["id"], row["invitation_id"], row["client_id"],
                         row["submitted_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"), row["language"],
                         "" if row["score"] is None else f"{row['score']:.2f}",
                         row["scoring_version"], *(cell(row["answers"].get(key)) for key in keys)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


@pytest.fixture
def exported(http, staff, survey_ctx):
    """Two surveys' responses stored in bulk; the first survey's id, rows and question keys."""
    chooser = random.Random(20261208)
    definition = validate_survey_definition(survey_fields())
    surveys = [active_survey(http, staff)["id"], active_survey(http, staff)["id"]]
    texts = ["=SUM(A1)", "+1", "-2", "@x", "\tTab", "plain, with comma", '"quoted"', "多行\n文本",
             "慢", "line\r\nbreak"]
    invitations, responses = [], []
    for number in range(RESPONSES + 300):
        survey_id = surveys[0] if number < RESPONSES else surveys[1]
        invitation_id = str(uuid.uuid4())
        # Runs of seven responses at the same instant.
        submitted = START + timedelta(minutes=5 * (number // 7),
                                      microseconds=chooser.choice([0, 1]))
        invitations.append(dict(
            id=invitation_id, survey_id=survey_id, client_id=str(uuid.uuid4()), language="en",
            created_at=submitted, expires_at=submitted + timedelta(days=30), answered_at=submitted,
            created_by="test", link_base="http://x/survey", delivery="none",
            delivery_status="not_requested", delivery_attempts=0, version=1))
        answers = {key: value for key, value in (
            ("recommend", chooser.randrange(0, 11)), ("satisfied", chooser.randrange(1, 6)),
            ("effort", chooser.randrange(1, 8)), ("quality", chooser.randrange(1, 6)),
            ("value", chooser.choice(["poor", "fair", "good"])),
            ("improve", chooser.sample(["speed", "price", "communication"], chooser.randrange(1, 3))),
            ("comment", chooser.choice(texts) + " " + "好" * 700 + "x" * 600))
            if chooser.random() < 0.8}
        responses.append(dict(
            id=str(uuid.uuid4()), survey_id=survey_id, invitation_id=invitation_id,
            client_id=invitations[-1]["client_id"], language=chooser.choice(["en", "zh-CN"]),
            answers=answers,
            score=Decimal(chooser.randrange(0, 10001)) / 100 if chooser.random() < 0.9 else None,
            scoring_version="2026-11-1", submitted_at=submitted,
            **first_answers(definition, answers).as_dict()))
    with survey_ctx.database.transaction() as session:
        session.execute(insert(InvitationRecord), invitations)
        session.execute(insert(ResponseRecord), responses)
    keys = [question["key"] for question in EVERY_TYPE["questions"]]
    return surveys[0], [row for row in responses if row["survey_id"] == surveys[0]], keys


def streamed(http, staff, survey_ctx, url: str) -> tuple[bytes, int, int, int]:
    """The export at ``url`` read piece by piece as a client reads it, keeping only a digest:
    the digest, its size, the peak memory Python allocated meanwhile and how many statements
    read responses."""
    reads = []

    def count_reads(_connection, _cursor, statement, *_args):
        if "FROM survey_response" in statement:
            reads.append(statement)

    event.listen(survey_ctx.database.engine, "before_cursor_execute", count_reads)
    tracemalloc.start()
    try:
        answer = http.get(url, headers=staff, buffered=False)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert "Content-Length" not in answer.headers  # sent as it is made
        size, digest = 0, hashlib.sha256()
        for piece in answer.response:
            size += len(piece)
            digest.update(piece)
        answer.close()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        event.remove(survey_ctx.database.engine, "before_cursor_execute", count_reads)
    return digest.digest(), size, peak, len(reads)


def test_the_export_is_the_file_written_from_the_rules_streamed_in_constant_memory(
        http, staff, survey_ctx, exported):
    survey_id, rows, keys = exported
    url = f"/api/v1/surveys/{survey_id}/responses?format=csv"
    first_day = f"{url}&to={START.date()}"
    exports = [(first_day, [row for row in rows if row["submitted_at"].date() == START.date()]),
               (url, rows)]
    digests, sizes, peaks, reads = zip(*(streamed(http, staff, survey_ctx, path)
                                         for path, _rows in exports))
    for digest, (path, subset) in zip(digests, exports):
        expected = expected_csv(subset, keys)
        if digest != hashlib.sha256(expected).digest():  # show the difference
            assert http.get(path, headers=staff).get_data() == expected
    assert sizes[1] > 10_000_000 and sizes[1] > 2.5 * sizes[0]
    # Memory does not grow with the export: a file three times larger takes about as much
    # (about one batch of these long answers, read and written), and less than the file.
    assert peaks[1] < 1.25 * peaks[0] and peaks[1] < 0.75 * sizes[1], (peaks, sizes)
    assert reads[1] >= len(rows) // 500  # read in batches, not at once
    # A period the wrong way round is refused before anything is sent.
    refused = http.get(f"{url}&from=2026-01-05&to=2026-01-01", headers=staff)
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
