"""Registry read benchmark on PostgreSQL: the portfolio report and one client's ledger over
10,000 clients and 200,000 satisfaction ledger entries.

    .venv/bin/python bench/registry_bench.py [--url postgresql://…] [--runs 25]

Without ``--url`` it creates a scratch database on 127.0.0.1 (user postgres) and drops it
afterwards. The data is bulk-loaded with COPY straight into the registry's tables (migrated
first), then every request goes through the registry's Flask app in-process (token check, SQL,
serialisation), so the figures are the service's own cost without the network. Each figure is
the median of several runs, printed in milliseconds and as a ratio to a baseline measured in the
same run — reading one client by primary key — so results compare across machines.
Not part of the test suite.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from services.registry.app import build_context, create_app  # noqa: E402
from services.registry.domain.clients import KINDS  # noqa: E402
from shared.auth import issue_token  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.migrations import upgrade  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CLIENTS = 10_000
LEDGER_ENTRIES = 200_000
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


def load(url: str, rng: random.Random) -> tuple[str, int]:
    """Bulk-load the data set; returns the id of a client with a typical ledger and its size."""
    kinds = [(kind, category) for kind, categories in KINDS.items() for category in categories]
    client_ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(CLIENTS)]
    # Ledger sizes: 20 on average, from 0 to 40.
    sizes = [rng.randint(0, 40) for _ in range(CLIENTS)]
    scale = LEDGER_ENTRIES / sum(sizes)
    sizes = [int(size * scale) for size in sizes]
    sizes[0] += LEDGER_ENTRIES - sum(sizes)
    typical = next(index for index, size in enumerate(sizes) if index and size == 20)
    with psycopg.connect(url, autocommit=False) as connection, connection.cursor() as cursor:
        with cursor.copy("COPY client (id, name, kind, category, contacts, tags, owner, "
                         "preferred_language, annual_amount, annual_currency, tier, satisfaction, "
                         "health_score, health_band, open_low, open_medium, open_high, open_critical, "
                         "complaints_90d, value_at_risk, status, search_text, version, created_at, "
                         "updated_at, records_at, records_rules) FROM STDIN") as copy:
            for number, client_id in enumerate(client_ids):
                kind, category = rng.choice(kinds)
                amount = Decimal(rng.choice((5_000, 50_000, 250_000, 800_000, 2_500_000))) \
                    + Decimal(rng.randint(0, 99_999)) / 100
                tier = "A" if amount >= 1_000_000 else "B" if amount >= 100_000 else "C"
                satisfaction = None if sizes[number] == 0 else Decimal(rng.randint(0, 10_000)) / 100
                score = Decimal(rng.randint(200, 1000)) / 10
                band = "healthy" if score >= 70 else "at_risk" if score >= 40 else "critical"
                share = {"healthy": 0, "at_risk": Decimal("0.5"), "critical": 1}[band]
                status = "archived" if number % 50 == 0 else "active"
                copy.write_row((client_id, f"Client {number:05d} 客户", kind, category, "[]", "[]",
                                "Li Wei", "zh-CN", amount, "CNY", tier, satisfaction, score, band,
                                rng.randint(0, 2), rng.randint(0, 2), rng.randint(0, 1), 0,
                                rng.randint(0, 4), (amount * share).quantize(Decimal("0.01")),
                                status, f"client {number:05d}", 1, NOW, NOW, NOW, "bench"))
        with cursor.copy("COPY satisfaction_entry (client_id, position, event_id, event_type, "
                         "occurred_at, delta, value, reason) FROM STDIN") as copy:
            for client_id, size in zip(client_ids, sizes):
                value = Decimal(70)
                for position in range(size):
                    delta = Decimal(rng.choice((-20, -10, -5, -2, 1, 2, 5, 10)))
                    value = min(Decimal(100), max(Decimal(0), value + delta))
                    copy.write_row((client_id, position, str(uuid.uuid4()), "complaint.opened",
                                    NOW - timedelta(days=400 - position * 10), delta, value,
                                    f"Complaint CMP-{position:06d} (high) opened: \u221210"))
        with cursor.copy("COPY value_history_entry (client_id, position, at, cause_event_id, "
                         "cause_event_type, tier, health_score, health_band, value_at_risk) "
                         "FROM STDIN") as copy:
            for client_id in client_ids:
                for position in range(5):
                    copy.write_row((client_id, position, NOW - timedelta(days=300 - position * 50),
                                    str(uuid.uuid4()), "complaint.opened", "B", Decimal("64.0"),
                                    "at_risk", Decimal("75000.00")))
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return client_ids[typical], sizes[typical]


def median_ms(calls: dict, runs: int) -> dict[str, float]:
    """Median milliseconds of each call, measured in interleaved rounds so that any drift of
    the machine during the run weighs on every figure alike."""
    for call in calls.values():
        call()  # warm up (plans, caches, prepared statements)
    timings: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            timings[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in timings.items()}


def run(url: str, runs: int) -> list[tuple[str, float, float]]:
    upgrade("registry", url)
    rng = random.Random(42)
    started = time.perf_counter()
    client_id, ledger_size = load(url, rng)
    print(f"loaded {CLIENTS:,} clients, {LEDGER_ENTRIES:,} ledger entries and "
          f"{CLIENTS * 5:,} value history entries in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings.from_env({}, data_dir=folder, secret_key="bench-secret-" + "0123456789" * 4)
        settings = settings.with_overrides(database_urls={**settings.database_urls, "registry": url})
        ctx = build_context(settings)
        try:
            http = create_app(context=ctx).test_client()
            token = issue_token(settings.secret_key, name="bench", role="analyst", days=1,
                                now=datetime.now(timezone.utc))
            headers = {"Authorization": f"Bearer {token}"}

            def get(path):
                def call():
                    answer = http.get(path, headers=headers)
                    assert answer.status_code == 200, answer.get_data(as_text=True)
                    return answer
                return call

            report = get("/api/v1/reports/portfolio")().json
            assert report["clients"] == CLIENTS - CLIENTS // 50
            ledger = get(f"/api/v1/clients/{client_id}/satisfaction")().json["ledger"]
            assert len(ledger) == ledger_size
            measured = median_ms({
                "client read by id (baseline)": get(f"/api/v1/clients/{client_id}"),
                f"client ledger ({ledger_size} entries)": get(f"/api/v1/clients/{client_id}/satisfaction"),
                "client value record + history": get(f"/api/v1/clients/{client_id}/value"),
                "portfolio report": get("/api/v1/reports/portfolio"),
            }, runs)
        finally:
            ctx.database.dispose()
    baseline = measured["client read by id (baseline)"]
    return [(name, ms, ms / baseline) for name, ms in measured.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an empty PostgreSQL database to use (kept afterwards)")
    parser.add_argument("--runs", type=int, default=40, help="runs per figure (median)")
    args = parser.parse_args()
    scratch = None
    url = args.url
    if url is None:
        scratch = f"clientloop_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{scratch}"')
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{scratch}"
    try:
        results = run(url, args.runs)
    finally:
        if scratch is not None:
            with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    print(f"\nmedian of {args.runs} runs, through the registry app in-process:")
    print(f"{'request':<36}{'ms':>10}{'× baseline':>14}")
    for name, ms, ratio in results:
        print(f"{name:<36}{ms:>10.2f}{ratio:>14.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
