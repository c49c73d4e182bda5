"""docs/reliability.md is written by the fault suite (tests/faults, run alone with
``-m faults``); this checks, in the normal run, that the published page has the shape the
suite writes and shows a run that kept every promise."""
from __future__ import annotations

import re

from tests.faults.drill import Injection
from tests.faults.report import DOC, FIGURES, Run, render

SECTIONS = ("# Reliability under faults", "## What ran", "## The load",
            "## What was injected, and when", "## What was counted", "### API answers by status",
            "### Dead-letter queues", "### Sequences")
FAULTS = {"SIGKILL a consumer": 3, "SIGKILL a relay": 2, "RabbitMQ restart": 1,
          "PostgreSQL restart": 1}


def table_rows(text: str, heading: str) -> list[list[str]]:
    section = text.split(heading, 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def number(cell: str) -> float:
    assert re.fullmatch(r"[0-9][0-9,]*(\.[0-9]+)?", cell), cell
    return float(cell.replace(",", ""))


def check_structure(text: str) -> dict[str, float]:
    for heading in SECTIONS:
        assert heading in text, heading
    injected = table_rows(text, "## What was injected, and when")
    faults = {}
    for at, fault, _detail in injected[:sum(FAULTS.values())]:
        number(at)
        faults[fault] = faults.get(fault, 0) + 1
    assert faults == FAULTS
    counted = {label: value for label, value, _promise in table_rows(text, "## What was counted")}
    assert list(counted) == [label for _key, label, _promise in FIGURES]
    return {key: number(counted[label]) for key, label, _promise in FIGURES}


def test_the_published_run_has_the_suites_structure_and_kept_every_promise():
    text = DOC.read_text(encoding="utf-8")
    figures = check_structure(text)
    assert "**Result: passed**" in text
    for key, _label, promise in FIGURES:
        if promise == "0":
            assert figures[key] == 0, key
    assert figures["events_on_bus"] == figures["events_written"] >= 4000
    assert not re.search(r"\bSPEC\b|\bissues?\b", text, re.IGNORECASE)


def test_what_the_suite_writes_passes_the_check():
    figures = {key: 0 for key, _label, _promise in FIGURES} | {
        "events_written": 5000, "events_on_bus": 5000, "deliveries": 5012, "duplicates": 12,
        "duration_s": 300.5}
    injections = [Injection(10.0 * number, fault, "detail", 1.0)
                  for number, fault in enumerate(fault for fault, count in FAULTS.items()
                                                 for _ in range(count))]
    text = render(Run(figures=figures, injections=injections, load={"stories": 10},
                      statuses={"200": 1}, dlq={"registry.events.dlq": 0},
                      sequences={"streams": 1}, topology=["nginx"], phases={"counted": 300.5}))
    assert check_structure(text)["duplicates"] == 12
    assert "**Result: passed**" in text
