"""Path ``reports``: the complaints report over two years (50,000 complaints) and the registry's
portfolio (10,000 clients), each service under ``clientloop serve SERVICE --workers 4``.

The data set is the console bench's large one (``bench/console_bench.py``, ``load_large``:
10,000 clients, 50,000 complaints with their timelines over two years, 100,000 survey
responses and the registry's ledgers folded by its own code, all loaded with ``COPY`` into three
scratch databases). Requests are sequential, in interleaved rounds after a warm-up; p95 is
nearest rank. Baseline: ``GET /healthz`` of the same server in the same rounds (HTTP, Flask, the
access log, no database). Each answer is checked against the database: the report's ``total``
against the complaints opened in the period, the portfolio's ``clients`` against the active
clients.
"""
from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
import requests

from bench.support import (PathResult, migrate, percentile, say, scratch_databases, serve,
                           service_env, staff_token)


def _load(urls: dict[str, str], quick: bool) -> None:
    from bench import console_bench
    if quick:  # the loader reads its sizes from these module globals at call time
        console_bench.CLIENTS, console_bench.COMPLAINTS, console_bench.RESPONSES = 500, 2500, 3000
    console_bench.load_large(urls)


def run(result: PathResult, work: Path, *, quick: bool, client: str) -> None:
    rounds = 5 if quick else 30
    with scratch_databases("registry", "survey", "complaints") as urls:
        began = time.monotonic()
        for service, url in urls.items():
            migrate(service, url)
        _load(urls, quick)
        say(f"data set built in {time.monotonic() - began:.0f} s")
        today = date.today()
        first = today - timedelta(days=729)
        with psycopg.connect(urls["complaints"]) as db:
            complaints = db.execute("SELECT count(*) FROM complaint WHERE opened_at >= %s",
                                    (first,)).fetchone()[0]
        with psycopg.connect(urls["registry"]) as db:
            clients = db.execute("SELECT count(*) FROM client WHERE status = 'active'").fetchone()[0]
        env = service_env(work, **{f"CLIENTLOOP_{name.upper()}_DATABASE_URL": url
                                   for name, url in urls.items()})
        with serve("complaints", env, work) as (complaints_base, _), \
                serve("registry", env, work) as (registry_base, _):
            http = requests.Session()
            http.headers["Authorization"] = f"Bearer {staff_token('analyst')}"
            paths = {
                "complaints report, 2 years": f"{complaints_base}/api/v1/reports/complaints"
                                              f"?from={first.isoformat()}&to={today.isoformat()}",
                "complaints /healthz": f"{complaints_base}/healthz",
                "registry portfolio": f"{registry_base}/api/v1/reports/portfolio",
                "registry /healthz": f"{registry_base}/healthz",
            }
            timings: dict[str, list[float]] = {name: [] for name in paths}
            for number in range(rounds + 3):  # three warm-up rounds
                for name, url in paths.items():
                    began = time.perf_counter()
                    answer = http.get(url, timeout=120)
                    elapsed = (time.perf_counter() - began) * 1000
                    if answer.status_code != 200:
                        raise RuntimeError(f"GET {url}: {answer.status_code} {answer.text[:300]}")
                    if number == 0:
                        _check(name, answer.json(), complaints, clients)
                    if number >= 3:
                        timings[name].append(elapsed)
    for name, baseline, count in (("complaints report, 2 years", "complaints /healthz",
                                   f"{complaints:,} complaints"),
                                  ("registry portfolio", "registry /healthz",
                                   f"{clients:,} active clients")):
        p95, base95 = percentile(timings[name], .95), percentile(timings[baseline], .95)
        p50 = percentile(timings[name], .5)
        say(f"{name} ({count}): p50 {p50:.0f} ms, p95 {p95:.0f} ms")
        result.add(f"{name}, p95", p95, base95, "ms", kind="below", target=300.0,
                   floor_what="/healthz p95", note=f"{count}, {rounds} requests")
        result.details[name] = {"p50_ms": p50, "p95_ms": p95, "baseline_p95_ms": base95,
                                 "rows": count}


def _check(name: str, body: dict, complaints: int, clients: int) -> None:
    if name.startswith("complaints report") and body["total"] != complaints:
        raise RuntimeError(f"the report counts {body['total']} complaints; the database holds "
                           f"{complaints} in the period")
    if name == "registry portfolio" and body["clients"] != clients:
        raise RuntimeError(f"the portfolio counts {body['clients']} clients; {clients} are active")
