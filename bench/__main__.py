"""ClientLoop's performance suite: each path measured beside its floor in the same run.

    ./scripts/bench                          # every path (about 15 minutes on 2 cores)
    ./scripts/bench --only submit-pg,apply   # some paths
    ./scripts/bench --quick                  # small sizes, seconds a path (the smoke test's mode)
    ./scripts/bench --json out.json          # the figures as JSON (default bench/results/latest.json)

Needs PostgreSQL (postgres@127.0.0.1:5432; scratch databases ``clientloop_bench_<random>_<name>``
dropped after) and RabbitMQ (guest@127.0.0.1:5672, managed with ``rabbitmqctl``; a scratch
virtual host deleted after) for the paths that use them; ``wrk`` for the closed-loop load of the
submit paths (the asyncio client otherwise). Prints one table (path | measured | floor | ratio |
goal | met?) and writes the JSON. Exit status 0 when every path ran (goals met or not), 1 when a
path failed to run, 2 with ``--strict`` when a goal was missed. What each path measures:
docs/performance.md.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable

from bench import support
from bench.support import RABBIT, ROOT, PathResult, reachable, table

PATHS: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (module:function, what it needs)
    "submit-pg": ("bench.submit:run_pg", ("postgresql",)),
    "submit-embedded": ("bench.submit:run_embedded", ()),
    "apply": ("bench.apply:run_apply", ("postgresql", "rabbitmq")),
    "apply-growth": ("bench.apply:run_growth", ("postgresql",)),
    "results": ("bench.results_scale:run", ("postgresql",)),
    "loop": ("bench.loop:run", ("postgresql", "rabbitmq")),
    "reports": ("bench.reports:run", ("postgresql",)),
}
DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"


def _function(spec: str) -> Callable:
    import importlib
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def _missing(needs: tuple[str, ...]) -> list[str]:
    missing = []
    if "postgresql" in needs and not reachable("127.0.0.1", 5432):
        missing.append("PostgreSQL on 127.0.0.1:5432")
    if "rabbitmq" in needs and not reachable(*RABBIT):
        missing.append("RabbitMQ on 127.0.0.1:5672")
    return missing


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", metavar="PATH,…",
                        help=f"comma-separated paths among {', '.join(PATHS)} (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and short runs: seconds a path, figures only indicative")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the figures")
    parser.add_argument("--load-client", choices=("auto", "wrk", "python"), default="auto",
                        help="closed-loop load generator of the submit paths (auto: wrk if installed)")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a goal is missed")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the processes' logs and scratch files in this folder "
                             "(default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(PATHS)
    unknown = [name for name in chosen if name not in PATHS]
    if unknown:
        parser.error(f"unknown path(s) {', '.join(unknown)}; choose among {', '.join(PATHS)}")
    args.paths = chosen
    return args


def main(argv: list[str] | None = None) -> int:
    from bench import load
    args = parse_args(argv)
    client = args.load_client
    if client == "auto":
        client = "wrk" if load.have_wrk() else "python"
    elif client == "wrk" and not load.have_wrk():
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 1
    machine = support.machine()
    print(f"ClientLoop bench: {', '.join(args.paths)}{' (quick)' if args.quick else ''}; "
          f"{machine['cores']} cores, load average {machine['load_average'][0]:.2f}; "
          f"closed-loop client: {client}", flush=True)
    started = time.monotonic()
    results: list[PathResult] = []
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
    with (contextlib.nullcontext(str(args.work.resolve())) if args.work is not None
          else tempfile.TemporaryDirectory(prefix="clientloop-bench-")) as folder:
        for name in args.paths:
            spec, needs = PATHS[name]
            result = PathResult(name)
            results.append(result)
            print(f"\n== {name} ==", flush=True)
            missing = _missing(needs)
            if missing:
                result.error = "needs " + " and ".join(missing)
                print(f"  skipped: {result.error}", flush=True)
                continue
            work = fresh_folder(Path(folder) / name)
            result.load_before = os.getloadavg()[0]
            began = time.monotonic()
            try:
                _function(spec)(result, work, quick=args.quick, client=client)
            except Exception as exc:  # noqa: BLE001 - one path failing must not stop the others
                result.error = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
                _keep_logs(work, name)
            result.seconds = time.monotonic() - began
            result.load_after = os.getloadavg()[0]
            print(f"  {result.seconds:.0f} s; load average {result.load_before:.2f} → "
                  f"{result.load_after:.2f}", flush=True)
    rows = [row for result in results for row in result.rows]
    print("\n" + table(rows))
    failed = [result for result in results if result.error]
    for result in failed:
        print(f"\n{result.name} did not run to the end: {result.error}")
    missed = [row for row in rows if row.met is False]
    print(f"\n{sum(1 for row in rows if row.met)} of {sum(1 for row in rows if row.met is not None)} goals met"
          if rows else "\nno figures")
    elapsed = time.monotonic() - started
    machine["load_average_after"] = list(os.getloadavg())
    report = {
        "quick": args.quick, "paths_requested": args.paths, "client": client,
        "started_at": support.now_utc().isoformat(timespec="seconds"),
        "seconds": round(elapsed, 1), "machine": machine,
        "paths": {result.name: {"rows": [row.as_json() for row in result.rows],
                                "details": result.details, "error": result.error,
                                "seconds": round(result.seconds, 1),
                                "load_average": [result.load_before, result.load_after]}
                  for result in results},
        "rows": [row.as_json() for row in rows],
        "table": table(rows),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(support.finite(report), indent=2, ensure_ascii=False,
                                    default=str, allow_nan=False) + "\n")
    print(f"figures written to {args.json} ({elapsed:.0f} s in all)")
    if failed:
        return 1
    return 2 if args.strict and missed else 0


def fresh_folder(work: Path) -> Path:
    """A path's own folder, emptied first: a run in a ``--work`` folder used before must not
    start from that run's data (embedded, ``clientloop up`` would spend the measurement working
    through the earlier run's backlog of events)."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    return work


def _keep_logs(work: Path, name: str) -> None:
    """The logs of a path that failed, printed (the scratch folder goes away)."""
    for log in sorted(work.glob("*.log")):
        text = log.read_text(errors="replace")
        if text.strip():
            print(f"--- {log.name} (last lines) ---\n" + "\n".join(text.splitlines()[-15:]))


if __name__ == "__main__":
    raise SystemExit(main())
