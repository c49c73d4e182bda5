"""``docs/reliability.md``: the fault suite's last run, written by the suite itself.

The page stands alone for readers who never saw the tests: what ran, what was injected and
when, and what was counted against each promise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tests.faults.drill import Injection
from tests.faults.load import KEY_STUCK_S

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"

#: The rows of the "What was counted" table, in order: (key, label, promise).
FIGURES = (
    ("events_written", "Events written (outbox rows, all services)", "—"),
    ("events_on_bus", "Distinct events on the bus", "= events written"),
    ("deliveries", "Messages on the bus (with duplicates)", "—"),
    ("duplicates", "Duplicates (published again after a kill or restart)", "allowed (at least once)"),
    ("lost", "Lost (written, never on the bus)", "0"),
    ("applied_registry", "Events applied by registry", "= its subscribed events on the bus"),
    ("not_applied", "Subscribed events not applied (all services)", "0"),
    ("doubles", "Events applied twice by registry (ledger, value history, applied events)", "0"),
    ("fold_differences", "Clients whose records differ from a fresh ordered fold", "0"),
    ("answers", "API answers through the gateway", "—"),
    ("answers_500", "Answers 500", "0"),
    ("answers_503", "Answers 503 (outage, with Retry-After)", "allowed"),
    ("stuck_keys", f"Writes whose Idempotency-Key stayed \"in flight\" over {KEY_STUCK_S:.0f} s",
     "0"),
    ("lost_answers", "Writes committed whose answer was lost (found by listing)", "measured"),
    ("dlq", "Dead-lettered events (all services)", "0"),
    ("sequence_violations", "Sequence violations (shared numbers, gaps, out of order)", "0"),
    ("duration_s", "Duration of the run (s)", "—"),
)


@dataclass
class Run:
    figures: dict[str, int | float]
    injections: list[Injection]
    load: dict[str, int]
    statuses: dict[str, int]
    dlq: dict[str, int]
    sequences: dict[str, int]
    topology: list[str]
    phases: dict[str, float]
    failures: list[str] = field(default_factory=list)


def render(run: Run) -> str:
    figures = run.figures
    lines = [
        "# Reliability under faults",
        "",
        "<!-- Written by the fault suite (tests/faults); do not edit by hand: run "
        "`./scripts/test -m faults` to measure again. -->",
        "",
        "ClientLoop promises that no committed change loses its event, that every event is "
        "applied once, that a client's records always equal one ordered pass over its events, "
        "and that an outage answers `503` with `Retry-After` rather than `500`. This page is "
        "the record of the last run of the fault suite, which checks those promises on the "
        "production topology while processes are killed and servers restarted under load.",
        "",
        f"**Result: {'passed' if not run.failures else 'FAILED'}** — run of "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{figures['events_written']:,} events in {figures['duration_s']:.0f} s.",
        "",
    ]
    if run.failures:
        lines += ["What failed:", ""] + [f"* {failure}" for failure in run.failures] + [""]
    lines += ["## What ran", ""] + [f"* {item}" for item in run.topology] + [""]
    lines += [
        "## The load", "",
        "Agents acting as staff and clients, all through the gateway: each registers a client "
        "in registry, invites it to a survey and answers through the link (the public "
        "endpoint), and opens two complaints that it takes through the workflow "
        "(acknowledge, start, sometimes a severity correction, a wait for the client and a "
        "resume, resolve, sometimes reopen and resolve again, close). Outage answers (`503`, a "
        "dropped connection) are retried after `Retry-After` with the same `Idempotency-Key`.",
        "",
        "| What | Count |", "|---|---:|",
    ]
    lines += [f"| {name} | {count:,} |" for name, count in run.load.items()]
    lines += [
        "", "## What was injected, and when", "",
        "Seconds from the start of the load; each fault waits for the previous one.", "",
        "| At (s) | Fault | Detail |", "|---:|---|---|",
    ]
    lines += [f"| {i.at_s:.1f} | {i.fault} | {i.detail} |" for i in run.injections]
    lines += ["", "| Phase | At (s) |", "|---|---:|"]
    lines += [f"| {name} | {at:.1f} |" for name, at in run.phases.items()]
    lines += [
        "", "## What was counted", "",
        "Every message the relays published was also copied, through a queue bound to every "
        "routing key before the load began, to a tap the suite read at the end; the outboxes "
        "of all three databases say what was written. A fresh registry database was then fed "
        "the tap's events once each, in event-time order, through the registry's own code, "
        "and its records compared with the live registry's, client by client.", "",
        "| Measure | Value | Promise |", "|---|---:|---|",
    ]
    for key, label, promise in FIGURES:
        value = figures[key]
        shown = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
        lines.append(f"| {label} | {shown} | {promise} |")
    lines += ["", "Every write is retried under its first `Idempotency-Key`, never a new one: "
              "a key whose request met an outage must answer a retry again (the stored answer, "
              "or a new run when nothing was committed) instead of `409` (\"still being "
              f"processed\"); one still `409` after {KEY_STUCK_S:.0f} s counts as stuck, and its "
              "write as failed. A write that committed but whose answer could not be stored "
              "answers a `409` saying so; the agent then finds what it made by listing."]
    lines += ["", "### API answers by status", "", "| Status | Answers |", "|---|---:|"]
    lines += [f"| {status} | {count:,} |" for status, count in run.statuses.items()]
    lines += ["", "### Dead-letter queues", "", "| Queue | Messages |", "|---|---:|"]
    lines += [f"| `{queue}` | {count:,} |" for queue, count in run.dlq.items()]
    lines += ["", "### Sequences", "",
              "Per publishing service and subject (a client), over each event's first arrival.",
              "", "| Check | Count |", "|---|---:|"]
    lines += [f"| {name} | {count:,} |" for name, count in run.sequences.items()]
    lines.append("")
    return "\n".join(lines)


def publish(run: Run, path: Path = DOC) -> Path:
    path.write_text(render(run), encoding="utf-8")
    return path
