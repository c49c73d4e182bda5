"""The project's files speak of the project only: no outside specification or issue tracker
is cited (neither is in the repository), and documented asset paths are where the suite
serves them."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("README.md", "docker-compose.yml", "docs", "services", "shared", "deploy", "examples",
           "bench", "scripts", "tests")
SUFFIXES = {".md", ".py", ".yml", ".yaml", ".sql", ".html", ".css", ".js", ".conf", ".txt", ""}
OUTSIDE_REFERENCE = re.compile(r"\b" + "SP" + r"EC\b|(?i:\bissue\s+#?\d+)|\(#\d+\)")


def _project_files():
    for entry in SCANNED:
        path = ROOT / entry
        candidates = [path] if path.is_file() else path.rglob("*")
        for candidate in candidates:
            if (candidate.is_file() and candidate.suffix in SUFFIXES
                    and "__pycache__" not in candidate.parts and "static" not in candidate.parts[-3:-1]):
                yield candidate


def test_no_project_file_cites_an_outside_specification_or_issue():
    offenders = []
    for path in _project_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE_REFERENCE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not offenders, "\n".join(offenders)


def test_documented_static_paths_carry_their_service_prefix():
    for doc in (ROOT / "docs").glob("*.md"):
        for path in re.findall(r"`(/[^`\s]*static/[^`\s]*)`", doc.read_text(encoding="utf-8")):
            assert re.match(r"/(registry|survey|complaints)/", path), (doc.name, path)
