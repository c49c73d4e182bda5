"""The performance suite runs: ``python -m bench --quick`` on two cheap paths (the embedded
submit, which needs no server, and apply-growth on PostgreSQL) with the Python load client, so
wrk need not be installed. It must print the table and write the JSON the docs describe; the
figures themselves are not judged here (docs/performance.md)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_HOST, PG_PORT, need_server

ROOT = Path(__file__).resolve().parents[2]
PATHS = ("submit-embedded", "apply-growth")

pytestmark = pytest.mark.postgres


def test_quick_bench_prints_the_table_and_writes_the_figures(tmp_path):
    need_server("PostgreSQL", PG_HOST, PG_PORT)
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", ",".join(PATHS), "--load-client",
         "python", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    assert "| path | measured | floor | ratio | goal | met? |" in done.stdout
    table_rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    for path in PATHS:
        assert any(line.startswith(f"| {path}: ") for line in table_rows), done.stdout

    report = json.loads(out.read_text())
    assert {"machine", "rows", "paths", "quick", "seconds", "table"} <= set(report)
    assert report["quick"] is True
    assert report["machine"]["cores"] >= 1 and len(report["machine"]["load_average"]) == 3
    assert set(report["paths"]) == set(PATHS)
    for name, path in report["paths"].items():
        assert path["error"] is None, (name, path["error"])
        assert path["rows"], name
    rows = report["rows"]
    for row in rows:
        assert {"path", "what", "measured", "floor", "ratio", "unit", "goal", "met"} <= set(row)
        assert row["path"] in PATHS
    goals = [row for row in rows if row["met"] is not None]
    assert goals, "every path has at least one goal"
    for row in goals:
        # Each goal's floor is a real number of this run; its figure too, unless the row says
        # why there is none (an overloaded server leaving requests unanswered), and misses.
        assert row["floor"] is not None and row["floor"] > 0, row
        if row["measured"] is None:
            assert row["met"] is False and (row["failed"] or "unanswered" in row["note"]), row
            continue
        assert row["measured"] > 0, row
        assert row["ratio"] == pytest.approx(row["measured"] / row["floor"]), row
    throughput = next(row for row in rows if row["path"] == "submit-embedded"
                      and row["unit"] == "req/s")
    assert throughput["goal"] == "≥ 0.5× floor"
    assert throughput["met"] == (throughput["ratio"] >= 0.5)
    growth = next(row for row in rows if row["path"] == "apply-growth")
    assert growth["met"] == (growth["ratio"] <= 1.2)


def test_a_paths_folder_is_emptied_before_it_runs_again(tmp_path):
    """A ``--work`` folder used before: the path starts from nothing of the earlier run (the
    embedded submit would otherwise start ``clientloop up`` on that run's data and backlog)."""
    from bench.__main__ import fresh_folder
    folder = tmp_path / "submit-embedded"
    (folder / "embedded" / "bus" / "queue").mkdir(parents=True)
    (folder / "embedded" / "survey.db").write_text("an earlier run's data")
    (folder / "embedded" / "bus" / "queue" / "1_000000000000_x.registry.events.msg").write_text("{}")
    assert fresh_folder(folder) == folder
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert fresh_folder(tmp_path / "apply" / "new").is_dir()
