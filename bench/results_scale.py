"""Path ``results``: a survey's results and CSV export at 100,000 and 1,000,000 responses.

The responses (and their invitations, one each, and 1,000 clients in the survey service's
directory) are made by SQL alone (``INSERT … SELECT … FROM generate_series``) straight into the
migrated survey database: answers to the NPS, CSAT, CES and text questions, the score the
survey's weights give, times spread over two years; the survey database's triggers count each
statement into the daily tallies results read (once per statement, so a batch of 250,000 costs
about what it did without them), each connection into its own slot of each day; one pass of the
survey's periodic jobs (``clientloop jobs survey``, which the consume process runs every minute)
then folds the past days' slots into one row per day, as it would have long before a real
history reached that size. ``clientloop serve survey --workers 4``
then answers ``GET /api/v1/surveys/{id}/results`` and ``…?group_by=month``; each answer's
response count must equal the rows inserted (and so must the NPS answers counted). Floor: one
SQL statement computing the same kind of figures in one pass over the survey's responses
(overall, or grouped by month; the answers read from columns of their own where the table
has them, else from the JSON), timed through psycopg in the same rounds.

At 1,000,000 the CSV export (``GET /api/v1/surveys/{id}/responses?format=csv``) is read once,
streamed: its time beside the floor ``COPY (SELECT …) TO STDOUT WITH CSV`` of the same rows and
columns, and the growth of the serving worker's peak RSS (``VmHWM`` of each gunicorn worker,
reset to its RSS just before through ``/proc/PID/clear_refs``).
"""
from __future__ import annotations

import subprocess
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import requests

from bench.support import (ROOT, PathResult, clientloop, median, memory_kib, migrate, now_utc,
                           reset_peak, say, scratch_databases, serve, service_env, staff_token,
                           worker_pids)
from bench.survey_data import canonical_definition

CLIENTS = 1000
SPREAD_S = 730 * 86400  # two years


def _columns(db, table: str) -> set[str]:
    return {row[0] for row in db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,))}


def _seed_survey(url: str) -> str:
    import json
    import uuid
    survey_id = str(uuid.uuid4())
    now = now_utc()
    with psycopg.connect(url) as db:
        db.execute(
            "INSERT INTO survey (id, status, definition, send_after_complaint_resolved, version, "
            "created_by, created_at, updated_at, published_at) "
            "VALUES (%s, 'active', %s, false, 2, 'bench', %s, %s, %s)",
            (survey_id, json.dumps(canonical_definition(), ensure_ascii=False),
             *[now - timedelta(days=3 * 365)] * 3))
        db.execute(
            "INSERT INTO survey_client (id, known, name, kind, category, tier, preferred_language, "
            "contacts, status, updated_at) "
            "SELECT md5('bench-client-' || i)::uuid::text, true, 'Bench client ' || i, "
            "(ARRAY['external','internal','end_user','potential'])[1 + mod(i, 4)], "
            "(ARRAY['enterprise','stakeholder','end_user','prospect'])[1 + mod(i, 4)], "
            "(ARRAY['A','B','C'])[1 + mod(i, 3)], 'zh-CN', '[]', 'active', now() "
            "FROM generate_series(0, %s::int) AS i", (CLIENTS - 1,))
    return survey_id


def _seed_responses(url: str, survey_id: str, first: int, last: int) -> None:
    """Responses number ``first``…``last`` (and their invitations), by SQL alone."""
    from services.survey.domain.scoring import SCORING_VERSION
    with psycopg.connect(url) as db:
        columns = _columns(db, "survey_response")
        # Where the service keeps the first NPS, CSAT and CES answers in columns of their own,
        # fill them as it would.
        extra = [name for name in ("nps", "csat", "ces") if name in columns]
        values = {"nps": "mod(i, 11)", "csat": "1 + mod(i / 11, 5)", "ces": "1 + mod(i / 55, 7)"}
        moment = f"%(now)s - make_interval(secs => mod(i::bigint * 7919, {SPREAD_S})) - interval '2 hours'"
        db.execute(
            "INSERT INTO invitation (id, survey_id, client_id, language, created_at, expires_at, "
            "answered_at, created_by, link_base, delivery, delivery_status, delivery_attempts, version) "
            "SELECT md5('bench-invitation-' || i)::uuid::text, %(survey)s, "
            f"md5('bench-client-' || mod(i, {CLIENTS}))::uuid::text, "
            "CASE WHEN mod(i, 4) = 0 THEN 'en' ELSE 'zh-CN' END, "
            f"{moment}, {moment} + interval '30 days', {moment} + interval '1 hour', 'bench', "
            "'http://127.0.0.1/survey', 'none', 'not_requested', 0, 2 "
            "FROM generate_series(%(first)s::int, %(last)s::int) AS i",
            {"survey": survey_id, "now": now_utc(), "first": first, "last": last})
        db.execute(
            "INSERT INTO survey_response (id, survey_id, invitation_id, client_id, language, answers, "
            "score, scoring_version, submitted_at" + "".join(f", {name}" for name in extra) + ") "
            "SELECT md5('bench-response-' || i)::uuid::text, %(survey)s, "
            "md5('bench-invitation-' || i)::uuid::text, "
            f"md5('bench-client-' || mod(i, {CLIENTS}))::uuid::text, "
            "CASE WHEN mod(i, 4) = 0 THEN 'en' ELSE 'zh-CN' END, "
            f"json_build_object('nps', {values['nps']}, 'csat', {values['csat']}, "
            f"'ces', {values['ces']}, 'comment', 'Bench comment ' || i || '，交付及时。'), "
            # (2 × NPS × 10 + (CSAT − 1) × 25 + (CES − 1) × 100 / 6) / 4: the weights of the survey
            f"round((({values['nps']}) * 20 + ({values['csat']} - 1) * 25.0 "
            f"+ ({values['ces']} - 1) * 100.0 / 6) / 4, 2), "
            f"%(version)s, {moment} + interval '1 hour'"
            + "".join(f", {values[name]}" for name in extra) + " "
            "FROM generate_series(%(first)s::int, %(last)s::int) AS i",
            {"survey": survey_id, "now": now_utc(), "first": first, "last": last,
             "version": SCORING_VERSION})
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("VACUUM ANALYZE invitation")
        db.execute("VACUUM ANALYZE survey_response")


FLOOR_SQL = (
    "SELECT {group} count(*), count(*) FILTER (WHERE {nps} >= 9), "
    "count(*) FILTER (WHERE {nps} <= 6), count(*) FILTER (WHERE {csat} >= 4), "
    "avg({ces}), avg(score) FROM survey_response WHERE survey_id = %s {group_by}")


def _floor_ms(url: str, survey_id: str, by_month: bool) -> float:
    """One statement, one pass: the answers read from their own columns where the table has
    them, else from the JSON."""
    group = "date_trunc('month', submitted_at)," if by_month else ""
    with psycopg.connect(url) as db:
        columns = _columns(db, "survey_response")
        answer = {name: name if name in columns else f"(answers->>'{name}')::int"
                  for name in ("nps", "csat", "ces")}
        sql = FLOOR_SQL.format(group=group, group_by="GROUP BY 1" if by_month else "", **answer)
        began = time.perf_counter()
        db.execute(sql, (survey_id,)).fetchall()
        return (time.perf_counter() - began) * 1000


def _tally_rows(url: str) -> int:
    with psycopg.connect(url) as db:
        return db.execute("SELECT count(*) FROM response_tally").fetchone()[0]


def _periodic_jobs(env: dict[str, str], work: Path) -> None:
    """One pass of the survey's periodic jobs (``clientloop jobs survey``), as the consume
    process runs them every minute: they fold the tally slots the seeding's connections wrote
    on past days into one row per day."""
    with open(work / "jobs-survey.log", "ab") as log:
        subprocess.run(clientloop("jobs", "survey"), cwd=ROOT, env=env, stdout=log,
                       stderr=subprocess.STDOUT, check=True, timeout=600)


def _check(body: dict, rows: int, by_month: bool) -> None:
    overall = body["overall"]
    counted = sum(group["responses"] for group in body["groups"]) if by_month else overall["responses"]
    if overall["responses"] != rows or counted != rows or overall["nps"]["answered"] != rows:
        raise RuntimeError(f"results counted {overall['responses']} responses "
                           f"({counted} in the groups, {overall['nps']['answered']} NPS answers) "
                           f"for {rows} inserted")


def _measure(http: requests.Session, base: str, url: str, survey_id: str, rows: int,
             rounds: int) -> dict:
    paths = {"results": f"{base}/api/v1/surveys/{survey_id}/results",
             "results by month": f"{base}/api/v1/surveys/{survey_id}/results?group_by=month"}
    timings: dict[str, list[float]] = {name: [] for name in paths}
    floors: dict[str, list[float]] = {name: [] for name in paths}
    for number in range(rounds + 1):  # the first round warms up
        for name, path in paths.items():
            began = time.perf_counter()
            answer = http.get(path, timeout=300)
            elapsed = (time.perf_counter() - began) * 1000
            if answer.status_code != 200:
                raise RuntimeError(f"GET {path}: {answer.status_code} {answer.text[:300]}")
            _check(answer.json(), rows, name == "results by month")
            floor = _floor_ms(url, survey_id, name == "results by month")
            if number:
                timings[name].append(elapsed)
                floors[name].append(floor)
    return {name: (median(timings[name]), median(floors[name])) for name in paths}


def _csv(http: requests.Session, base: str, master_pid: int, survey_id: str, rows: int) -> dict:
    workers = worker_pids(master_pid)
    resettable = all(reset_peak(pid) for pid in workers)
    before = {pid: memory_kib(pid, "VmRSS") for pid in workers}
    peak = dict(before)
    size = lines = 0
    began = time.perf_counter()
    with http.get(f"{base}/api/v1/surveys/{survey_id}/responses?format=csv", stream=True,
                  timeout=600) as answer:
        if answer.status_code != 200:
            raise RuntimeError(f"CSV export: {answer.status_code} {answer.text[:300]}")
        for chunk in answer.iter_content(1 << 20):
            size += len(chunk)
            lines += chunk.count(b"\n")
            if not resettable:
                for pid in workers:
                    peak[pid] = max(peak[pid], memory_kib(pid, "VmRSS"))
    elapsed = (time.perf_counter() - began) * 1000
    if resettable:
        peak = {pid: memory_kib(pid, "VmHWM") for pid in workers}
    growth = max(peak[pid] - before[pid] for pid in workers) / 1024
    if lines != rows + 1:
        raise RuntimeError(f"the CSV export has {lines - 1} rows for {rows} responses")
    return {"ms": elapsed, "bytes": size, "rss_growth_mb": growth,
            "rss_before_mb": max(before.values()) / 1024, "peak_from": "VmHWM" if resettable else "sampled VmRSS"}


def _csv_floor_ms(url: str, survey_id: str) -> float:
    sql = ("COPY (SELECT id, invitation_id, client_id, submitted_at, language, score, "
           "scoring_version, answers->>'nps', answers->>'csat', answers->>'ces', "
           "answers->>'comment' FROM survey_response WHERE survey_id = %s "
           "ORDER BY submitted_at, id) TO STDOUT WITH (FORMAT csv, HEADER)")
    with psycopg.connect(url) as db, db.cursor() as cursor:
        began = time.perf_counter()
        with cursor.copy(sql, (survey_id,)) as copy:
            for _block in copy:
                pass
        return (time.perf_counter() - began) * 1000


def run(result: PathResult, work: Path, *, quick: bool, client: str) -> None:
    small, large = (2_000, 20_000) if quick else (100_000, 1_000_000)
    rounds = {small: 5 if quick else 10, large: 5}
    with scratch_databases("survey") as urls:
        url = urls["survey"]
        migrate("survey", url)
        survey_id = _seed_survey(url)
        env = service_env(work, CLIENTLOOP_SURVEY_DATABASE_URL=url)
        figures = {}
        with serve("survey", env, work, workers=4, threads=4) as (base, master):
            http = requests.Session()
            http.headers["Authorization"] = f"Bearer {staff_token('analyst')}"
            inserted = 0
            tallies: dict[int, dict[str, int]] = {}
            for size in (small, large):
                began = time.monotonic()
                step = 250_000
                for first in range(inserted + 1, size + 1, step):
                    _seed_responses(url, survey_id, first, min(size, first + step - 1))
                inserted = size
                seeded = _tally_rows(url)
                _periodic_jobs(env, work)
                tallies[size] = {"seeded": seeded, "after_jobs": _tally_rows(url)}
                say(f"{size:,} responses and invitations in the database "
                    f"({time.monotonic() - began:.0f} s to insert; response tally rows "
                    f"{seeded:,}, {tallies[size]['after_jobs']:,} after the periodic jobs)")
                figures[size] = _measure(http, base, url, survey_id, size, rounds[size])
                for name, (ms, floor) in figures[size].items():
                    say(f"{name} at {size:,}: {ms:.0f} ms (floor {floor:.0f} ms)")
            csv = _csv(http, base, master.pid, survey_id, large)
            csv["floor_ms"] = _csv_floor_ms(url, survey_id)
            say(f"CSV at {large:,}: {csv['ms'] / 1000:.1f} s (floor {csv['floor_ms'] / 1000:.1f} s), "
                f"{csv['bytes'] / 1e6:.0f} MB, worker RSS +{csv['rss_growth_mb']:.0f} MB")
    for name in ("results", "results by month"):
        ms_small, floor_small = figures[small][name]
        ms_large, floor_large = figures[large][name]
        label = "GET …/results" + ("?group_by=month" if name != "results" else "")
        result.add(f"{label} at {small:,} responses", ms_small, floor_small, "ms",
                   floor_what="one SQL pass", note=f"median of {rounds[small]}")
        result.add(f"{label} at {large:,} responses", ms_large, floor_large, "ms", kind="below",
                   target=200.0, floor_what="one SQL pass", note=f"median of {rounds[large]}")
        result.add(f"{label}, growth {large // small}× the responses", ms_large, ms_small, "ms",
                   kind="ratio_max", target=2.0, floor_what=f"at {small:,}")
    result.add(f"CSV export at {large:,} responses, time", csv["ms"], csv["floor_ms"], "ms",
               floor_what="COPY … TO STDOUT")
    result.add(f"CSV export at {large:,} responses, worker RSS growth", csv["rss_growth_mb"],
               csv["rss_before_mb"], "MB", kind="below", target=50.0,
               floor_what="RSS before")
    result.details.update(sizes=[small, large], rounds=rounds, csv=csv,
                          response_tally_rows={str(size): rows for size, rows in tallies.items()},
                          figures={str(size): {name: {"ms": ms, "floor_ms": floor}
                                               for name, (ms, floor) in by_name.items()}
                                   for size, by_name in figures.items()})
