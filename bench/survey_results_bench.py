"""Survey results and CSV export at growing sizes: one survey with 100,000 and with 1,000,000
responses (PostgreSQL), through the survey service's Flask app in-process.

    .venv/bin/python bench/survey_results_bench.py                       # 100,000 and 1,000,000
    .venv/bin/python bench/survey_results_bench.py --responses 100000 --runs 30
    .venv/bin/python bench/survey_results_bench.py --keep                 # keep the databases

For each size a scratch database on 127.0.0.1 (``clientloop_bench_<id>_survey``, dropped at the
end unless ``--keep``) is migrated and filled with ``COPY``: 10,000 clients in the survey
service's directory (every kind and tier), the demo's satisfaction survey, ``N`` responses to it
over 25 months (answers drawn per client mood; score and first NPS, CSAT and CES answers by the
survey's own code) and 1.6 × ``N`` invitations (the database's triggers count each ``COPY`` into
the daily tallies results read), then ``VACUUM ANALYZE``. Each request then goes
through the app with a staff token (token check, SQL, serialisation; no network), in
interleaved rounds after a warm-up; the table gives p50 and p95 (nearest rank) and the growth
from the first size to the last. ``GET /healthz`` is the baseline of the same rounds. The CSV
export is timed once per size, with the peak memory Python allocated while reading it
(``tracemalloc``). Not part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "survey-results-bench-secret-" + "0123456789abcdef" * 3
CLIENTS = 10_000
MONTHS = 25
KINDS = ("external", "internal", "end_user", "shareholder", "supplier", "government")
TIERS = ("A", "B", "C", "D", None)


def requests_timed(survey_id: str) -> list[tuple[str, str]]:
    base = f"/api/v1/surveys/{survey_id}"
    return [("baseline: GET /healthz", "/healthz"),
            ("results, overall", f"{base}/results"),
            ("results by month (the console's)", f"{base}/results?group_by=month"),
            ("results by kind", f"{base}/results?group_by=kind"),
            ("results by tier", f"{base}/results?group_by=tier"),
            ("results by month, last 12 months", f"{base}/results?group_by=month&from={{year_ago}}")]


def answer(rng: random.Random, question, mood: float):
    if question.answer_range is not None:
        low, high = question.answer_range
        return int(round(low + (high - low) * min(1.0, max(0.0, rng.gauss(mood, 0.2)))))
    kind = question.type.value
    if kind == "single_choice":
        return rng.choice(question.options).key
    if kind == "multi_choice":
        return [option.key for option in rng.sample(question.options, rng.randrange(1, 3))]
    if kind == "text":
        return rng.choice(("响应很快，谢谢！", "Delivery was late again.", "价格偏高")) \
            if rng.random() < 0.3 else None
    return None


def load(url: str, responses: int, now: datetime, seed: int = 11) -> str:
    """Fill the migrated survey database; returns the survey's id."""
    from services.survey.demo import SATISFACTION
    from services.survey.domain.definition import validate_survey_definition
    from services.survey.domain.scoring import SCORING_VERSION, score_response
    try:
        from services.survey.domain.scoring import first_answers
    except ImportError:  # a tree from before the first answers were kept in columns
        first_answers = None
    rng = random.Random(seed)
    uid = lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))  # noqa: E731
    definition = validate_survey_definition(SATISFACTION)
    survey_id = uid()
    start = now - timedelta(days=30 * MONTHS)
    clients = [(uid(), rng.choice(KINDS), rng.choice(TIERS)) for _ in range(CLIENTS)]
    moods = [rng.betavariate(5, 2) for _ in clients]
    span = (now - start).total_seconds()

    def moment() -> datetime:  # twice as many answers now as 25 months ago
        fraction = (math.sqrt(1 + 3 * rng.random()) - 1)  # density rising linearly 1 → 2
        return start + timedelta(seconds=int(span * fraction))

    with psycopg.connect(url) as db, db.cursor() as cursor:
        with cursor.copy("COPY survey_client (id, known, name, kind, category, tier, "
                         "preferred_language, contacts, status, updated_at) FROM STDIN") as copy:
            for number, (client_id, kind, tier) in enumerate(clients):
                copy.write_row((client_id, True, f"Client {number}", kind, "enterprise", tier,
                                "zh-CN", "[]", "active", now))
        cursor.execute(
            "INSERT INTO survey (id, status, definition, send_after_complaint_resolved, version, "
            "created_by, created_at, updated_at, published_at) "
            "VALUES (%s, 'active', %s, false, 2, 'bench', %s, %s, %s)",
            (survey_id, json.dumps(definition.to_dict(), ensure_ascii=False), start, start, start))
        invitation_columns = ("id, survey_id, client_id, language, created_at, expires_at, "
                              "answered_at, created_by, link_base, delivery, delivery_status, "
                              "delivery_attempts, version")
        # Schemas from before the first answers were kept in columns are loaded without them.
        kept = cursor.execute("SELECT count(*) FROM information_schema.columns WHERE "
                              "table_name = 'survey_response' AND column_name = 'nps'").fetchone()[0]
        response_columns = ("id, survey_id, invitation_id, client_id, language, answers, score, "
                            "scoring_version, submitted_at" + (", nps, csat, ces" if kept else ""))
        answered_rows = []
        with cursor.copy(f"COPY invitation ({invitation_columns}) FROM STDIN") as copy:
            for number in range(responses + responses * 3 // 5):
                index = rng.randrange(CLIENTS)
                created = moment()
                answered = None
                if number < responses:
                    answered = min(now, created + timedelta(hours=rng.randrange(1, 72)))
                invitation_id = uid()
                copy.write_row((invitation_id, survey_id, clients[index][0], "zh-CN", created,
                                created + timedelta(days=30), answered, "bench",
                                "http://127.0.0.1:8000/survey", "none", "not_requested", 0, 1))
                if answered is not None:
                    answered_rows.append((invitation_id, index, answered))
        with cursor.copy(f"COPY survey_response ({response_columns}) FROM STDIN") as copy:
            for invitation_id, index, answered in answered_rows:
                answers = {}
                for question in definition.questions:
                    value = answer(rng, question, moods[index])
                    if value is not None and (question.required or rng.random() < 0.85):
                        answers[question.key] = value
                first = first_answers(definition, answers) if kept else None
                copy.write_row((uid(), survey_id, invitation_id, clients[index][0], "zh-CN",
                                json.dumps(answers, ensure_ascii=False),
                                score_response(definition, answers), SCORING_VERSION, answered,
                                *((first.nps, first.csat, first.ces) if kept else ())))
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("VACUUM ANALYZE")
    return survey_id


def percentile(timings: list[float], share: float) -> float:
    ordered = sorted(timings)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def measure(url: str, survey_id: str, runs: int, now: datetime,
            csv_export: bool = True) -> dict[str, tuple[float, float]]:
    from werkzeug.test import Client

    from services.survey.app import build_context, create_app
    from shared.auth import issue
    from shared.config import DATABASE_URL_VARIABLES, Settings
    folder = tempfile.TemporaryDirectory(prefix="survey-results-bench-")
    settings = Settings.from_env({"CLIENTLOOP_SECRET_KEY": SECRET,
                                  DATABASE_URL_VARIABLES["survey"]: url}, data_dir=folder.name)
    context = build_context(settings)
    try:
        client = Client(create_app(context=context))
        token, _principal = issue(SECRET, name="bench", role="analyst", days=1, now=now)
        headers = {"Authorization": f"Bearer {token}"}
        year_ago = (now - timedelta(days=365)).date().isoformat()
        timed = [(name, path.replace("{year_ago}", year_ago))
                 for name, path in requests_timed(survey_id)]
        timings: dict[str, list[float]] = {name: [] for name, _path in timed}
        for round_number in range(runs + 3):
            for name, path in timed:
                started = time.perf_counter()
                answer_ = client.get(path, headers=headers)
                body = answer_.get_data()
                elapsed = (time.perf_counter() - started) * 1000
                assert answer_.status_code == 200, (path, answer_.status_code, body[:300])
                if round_number >= 3:
                    timings[name].append(elapsed)
        figures = {name: (percentile(values, 0.5), percentile(values, 0.95))
                   for name, values in timings.items()}
        if not csv_export:
            return figures
        tracemalloc.start()
        started = time.perf_counter()
        exported = client.get(f"/api/v1/surveys/{survey_id}/responses?format=csv",
                              headers=headers, buffered=False)
        size = sum(len(chunk) for chunk in exported.response)
        exported.close()
        elapsed = (time.perf_counter() - started) * 1000
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        figures["CSV export (whole file, once)"] = (elapsed, elapsed)
        figures["_csv"] = (size / 1e6, peak / 1e6)
        return figures
    finally:
        context.extras["delivery_worker"].stop()
        context.database.dispose()
        folder.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=30, help="timed rounds (default 30)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--no-csv", action="store_true", help="do not time the CSV export")
    parser.add_argument("--url", help="measure this already loaded survey database (the survey "
                        "with the most responses)")
    args = parser.parse_args()
    from shared.migrations import upgrade
    now = datetime.now(timezone.utc).replace(microsecond=0)
    results = {}
    sizes = args.responses if not args.url else [None]
    for size in sizes:
        if args.url:
            url = args.url
            with psycopg.connect(url) as db:
                survey_id, size = db.execute(
                    "SELECT survey_id, count(*) FROM survey_response GROUP BY survey_id "
                    "ORDER BY count(*) DESC LIMIT 1").fetchone()
            name = None
        else:
            name = f"clientloop_bench_{uuid.uuid4().hex[:8]}_survey"
            with psycopg.connect(ADMIN_URL, autocommit=True) as db:
                db.execute(f'CREATE DATABASE "{name}"')
            url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        try:
            if name:
                started = time.monotonic()
                upgrade("survey", url)
                survey_id = load(url, size, now)
                print(f"{size:,} responses loaded in {time.monotonic() - started:.0f} s"
                      + (f" ({url})" if args.keep else ""), flush=True)
            results[size] = measure(url, survey_id, args.runs, now, not args.no_csv)
        finally:
            if name and not args.keep:
                with psycopg.connect(ADMIN_URL, autocommit=True) as db:
                    db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    report(results, args.runs)
    return 0


def report(results: dict[int, dict[str, tuple[float, float]]], runs: int) -> None:
    sizes = list(results)
    print(f"\n{runs} requests each; p50 / p95 in ms (in-process, PostgreSQL)\n")
    print("| request | " + " | ".join(f"{size:,} responses" for size in sizes)
          + (" | growth (p95) |" if len(sizes) > 1 else " |"))
    print("|---|" + "---:|" * len(sizes) + ("---:|" if len(sizes) > 1 else ""))
    names = [name for name in results[sizes[0]] if not name.startswith("_")
             and all(name in results[size] for size in sizes)]
    for name in names:
        cells = [f"{results[size][name][0]:.1f} / {results[size][name][1]:.1f}"
                 if "CSV" not in name else f"{results[size][name][0]:,.0f}" for size in sizes]
        growth = ""
        if len(sizes) > 1:
            growth = f" {results[sizes[-1]][name][1] / results[sizes[0]][name][1]:.1f}× |"
        print(f"| {name} | " + " | ".join(cells) + " |" + growth)
    for size in (size for size in sizes if "_csv" in results[size]):
        megabytes, peak = results[size]["_csv"]
        print(f"\nCSV at {size:,} responses: {megabytes:.1f} MB, peak Python memory while "
              f"reading it {peak:.1f} MB")


if __name__ == "__main__":
    raise SystemExit(main())
