"""Paths ``submit-pg`` and ``submit-embedded``: the public survey submit
``POST /api/v1/public/responses``, each request answering its own invitation, against the
floor app (``bench.floor_app``: one INSERT and COMMIT a request) under the same gunicorn
settings, in the same run.

1. closed loop, 16 connections (wrk and ``submit_tokens.lua``; the asyncio client without
   wrk): requests a second, p50 and p99, for the floor then the service;
2. open loop at half the floor's rate (``bench.load.open_loop``): p99 from the time each
   request was due, for the service then the floor.
"""
from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Callable, Sequence

import requests

from bench import floor_app, load
from bench.support import (PathResult, clientloop, free_port, gunicorn, migrate, say, scratch_databases,
                           serve, service_env, staff_token, started, answers)
from bench.survey_data import DEFINITION, add_invitations, client_ids, seed_survey, write_tokens

CONNECTIONS = 16
HEADERS = {"Content-Type": "application/json"}


@contextlib.contextmanager
def _database(url: str):
    from shared.db import Database
    database = Database(url)
    try:
        yield database
    finally:
        database.dispose()


def _sizes(quick: bool) -> dict:
    if quick:
        return {"tokens": 4000, "seconds": 2.0, "open_seconds": 2.0, "warm_s": 0.5, "clients": 5,
                "drain_s": 5.0, "lead_s": 0.5}
    return {"tokens": 30000, "seconds": 15.0, "open_seconds": 10.0, "warm_s": 2.0, "clients": 200,
            "drain_s": 20.0, "lead_s": 2.0}


def run_pg(result: PathResult, work: Path, *, quick: bool, client: str) -> None:
    """The survey service alone on PostgreSQL: ``clientloop serve survey --workers 4`` (gthread,
    4 threads each), as production runs it; the floor likewise on its own database."""
    sizes = _sizes(quick)
    with scratch_databases("survey", "floor") as urls:
        migrate("survey", urls["survey"])
        floor_app.prepare(urls["floor"])
        clients = client_ids(sizes["clients"])
        with _database(urls["survey"]) as database:
            survey_id = seed_survey(database, clients)
            tokens = add_invitations(database, survey_id, clients, sizes["tokens"])
            say(f"survey with {len(clients)} clients and {len(tokens):,} invitations")

            def fresh(count: int) -> list[str]:
                return add_invitations(database, survey_id, clients, count)

            def stored() -> int:
                with database.transaction() as session:
                    return session.execute(_count_responses()).scalar_one()

            env = service_env(work, CLIENTLOOP_SURVEY_DATABASE_URL=urls["survey"])
            floor_env = service_env(work, BENCH_FLOOR_DATABASE_URL=urls["floor"])
            with serve("survey", env, work, workers=4, threads=4) as (base, _master), \
                    gunicorn("bench.floor_app:create_app()", floor_env, work, workers=4,
                             threads=4) as floor_base:
                _measure(result, f"{base}/api/v1/public/responses",
                         f"{floor_base}/api/v1/public/responses", tokens, fresh, stored,
                         lambda: floor_app.count(urls["floor"]), work=work, sizes=sizes,
                         client=client, rate_goal=0.6, p99_goal_ms=50.0)
    result.details["setup"] = "clientloop serve survey --workers 4 (gthread, 4 threads), PostgreSQL"


def run_embedded(result: PathResult, work: Path, *, quick: bool, client: str) -> None:
    """The embedded default as ``clientloop up`` runs it (SQLite files, the filesystem bus, its
    relays and consumers beside one gunicorn worker with 8 threads); the clients registered
    through the registry's API so the registry applies every response the bench submits."""
    sizes = _sizes(quick)
    data = work / "embedded"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = service_env(work)
    with started(clientloop("up", "--port", str(port), "--data-dir", str(data)), env,
                 work / "up.log", ready=answers(f"{base}/survey/healthz"), timeout=120):
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {staff_token()}"
        clients = []
        for number in range(sizes["clients"]):
            answer = http.post(f"{base}/registry/api/v1/clients", timeout=30, json={
                "name": f"Bench client {number}", "kind": "external", "category": "enterprise",
                "preferred_language": "zh-CN"})
            answer.raise_for_status()
            clients.append(answer.json()["id"])
        survey_db = data / "survey.db"
        _wait(lambda: _sqlite_count(survey_db, "SELECT count(*) FROM survey_client WHERE known")
              >= len(clients), "the survey service to learn the clients")
        answer = http.post(f"{base}/survey/api/v1/surveys", json=DEFINITION, timeout=30)
        answer.raise_for_status()
        survey_id = answer.json()["id"]
        http.post(f"{base}/survey/api/v1/surveys/{survey_id}/publish", timeout=30).raise_for_status()
        with _database(f"sqlite:///{survey_db}") as database:
            tokens = add_invitations(database, survey_id, clients, sizes["tokens"])
            say(f"clientloop up; {len(clients)} clients registered, {len(tokens):,} invitations")
            floor_url = f"sqlite:///{work / 'floor.db'}"
            floor_app.prepare(floor_url)
            with gunicorn("bench.floor_app:create_app()",
                          service_env(work, BENCH_FLOOR_DATABASE_URL=floor_url), work,
                          workers=1, threads=8) as floor_base:
                _measure(result, f"{base}/survey/api/v1/public/responses",
                         f"{floor_base}/api/v1/public/responses", tokens,
                         lambda count: add_invitations(database, survey_id, clients, count),
                         lambda: _sqlite_count(survey_db, "SELECT count(*) FROM survey_response"),
                         lambda: floor_app.count(floor_url), work=work, sizes=sizes,
                         client=client, rate_goal=0.5, p99_goal_ms=100.0)
    result.details["setup"] = ("clientloop up (SQLite, filesystem bus, gunicorn 1 worker × 8 "
                               "threads, relays and consumers running)")


def _count_responses():
    from sqlalchemy import func, select

    from services.survey.adapters.orm import ResponseRecord
    return select(func.count()).select_from(ResponseRecord)


def _sqlite_count(path: Path, sql: str) -> int:
    connection = sqlite3.connect(path, timeout=30)
    try:
        return connection.execute(sql).fetchone()[0]
    finally:
        connection.close()


def _wait(condition: Callable[[], bool], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.2)


def _requests(url: str, tokens: Sequence[str]) -> load.Requests:
    def make(number: int) -> bytes:
        return load.http_request("POST", url, load.submit_body(tokens[(number - 1) % len(tokens)], number),
                                 HEADERS)
    return make


def _closed(url: str, tokens: Sequence[str], seconds: float, client: str, work: Path) -> load.Run:
    if client == "wrk":
        return load.wrk(url, write_tokens(work / "tokens.txt", tokens), connections=CONNECTIONS,
                        seconds=seconds)
    return load.closed_loop(url, _requests(url, tokens), connections=CONNECTIONS, seconds=seconds)


def _measure(result: PathResult, url: str, floor_url: str, tokens: list[str],
             fresh: Callable[[int], list[str]], stored: Callable[[], int],
             floor_stored: Callable[[], int], *, work: Path, sizes: dict, client: str,
             rate_goal: float, p99_goal_ms: float) -> None:
    """The floor first (closed loop, then open loop at half its rate), then the service the
    same way: the service's backlog (or, embedded, its consumers' work) never weighs on the
    floor's figures."""
    warm = fresh(1500)
    for target in (floor_url, url):
        load.closed_loop(target, _requests(target, warm), connections=8, seconds=sizes["warm_s"])
    before, floor_before = stored(), floor_stored()

    floor = _closed(floor_url, tokens, sizes["seconds"], client, work)
    say(f"floor, closed loop: {floor.rate:,.0f} req/s, p50 {floor.p50_ms:.1f} ms, "
        f"p99 {floor.p99_ms:.1f} ms ({floor.tool})")
    rate = floor.rate / 2
    batch = fresh(int(rate * (sizes["open_seconds"] + sizes["lead_s"])) + 50)
    floor_open, floor_answers = load.open_loop(floor_url, _requests(floor_url, batch), rate=rate,
                                   seconds=sizes["open_seconds"], drain_s=sizes["drain_s"],
                                   lead_s=sizes["lead_s"])
    say(f"floor at {rate:,.0f} req/s: p50 {floor_open.p50_ms:.1f} ms, p99 {floor_open.p99_ms:.1f} ms")

    service = _closed(url, tokens, sizes["seconds"], client, work)
    say(f"service, closed loop: {service.rate:,.0f} req/s, p50 {service.p50_ms:.1f} ms, "
        f"p99 {service.p99_ms:.1f} ms, {service.failures} failed")
    stored_closed = stored() - before
    _settle(stored)  # embedded: the consumers' share of the machine is what it is, not a backlog
    service_open, service_answers = load.open_loop(url, _requests(url, batch), rate=rate,
                                     seconds=sizes["open_seconds"], drain_s=sizes["drain_s"],
                                     lead_s=sizes["lead_s"])
    say(f"service at {rate:,.0f} req/s: p50 {service_open.p50_ms:.1f} ms, "
        f"p99 {service_open.p99_ms:.1f} ms, {service_open.failures} failed")

    note = f"{CONNECTIONS} connections, {client}"
    result.add("throughput", service.rate, floor.rate, "req/s", kind="ratio_min", target=rate_goal,
               note=note, failed=_failed(service, len(tokens)))
    result.add("p50", service.p50_ms, floor.p50_ms, "ms", note=note)
    result.add("p99", service.p99_ms, floor.p99_ms, "ms", note=note)
    open_note = f"open loop at {rate:,.0f} req/s = half the floor's rate" + _unanswered(service_open)
    result.add("p50 at a fixed rate", service_open.p50_ms, floor_open.p50_ms, "ms", note=open_note)
    result.add("p99 at a fixed rate", service_open.p99_ms, floor_open.p99_ms, "ms", kind="below",
               target=p99_goal_ms, note=open_note)
    result.details.update(
        floor_closed=floor.as_json(), service_closed=service.as_json(),
        service_open=service_open.as_json(), floor_open=floor_open.as_json(),
        responses_stored_in_closed_loop=stored_closed,
        floor_open_timeline=load.timeline(floor_answers),
        service_open_timeline=load.timeline(service_answers),
        floor_rows_stored=floor_stored() - floor_before)


def _unanswered(run: load.Run) -> str:
    if not run.failures:
        return ""
    return (f"; {run.failures:,} of {run.requests:,} failed or unanswered "
            f"{run.details.get('drain_s', 0):.0f} s after the last was due")


def _settle(stored: Callable[[], int], seconds: float = 30) -> None:
    """Wait until the service has stopped storing responses (requests it had queued when the
    generator gave up on them), at most ``seconds``."""
    deadline = time.monotonic() + seconds
    last = stored()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = stored()
        if now == last:
            return
        last = now


def _failed(run: load.Run, tokens: int) -> str | None:
    if run.requests > tokens:
        return f"{run.requests:,} requests for {tokens:,} tokens: make more"
    if run.failures > run.requests * 0.01:
        return f"{run.failures} of {run.requests} requests failed"
    return None
