"""Domain code is plain Python: no web framework, no database toolkit, no message bus.

Every module under ``services/*/domain/`` is parsed with :mod:`ast` (nothing is imported or
run). An import of a forbidden package in any form fails the test — ``import x``,
``import x.y as z``, ``from x import y``, ``from x.y import z``, inside a function, under
``TYPE_CHECKING`` or a ``try``, or through ``importlib.import_module("x")`` / ``__import__``.
Imports of the project's own modules (``shared.*``, ``services.*``, relative ones) are followed,
so ``from shared.db import Database`` fails too: it brings SQLAlchemy in.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = ("services", "shared")
FORBIDDEN = ("flask", "flask_smorest", "werkzeug", "marshmallow", "webargs", "sqlalchemy", "alembic",
             "kombu", "amqp", "pika", "psycopg", "psycopg2", "gunicorn", "jinja2")
DYNAMIC_IMPORTERS = {"import_module", "__import__"}


@dataclass(frozen=True)
class Violation:
    chain: tuple[str, ...]   # where the import is, then each module followed to the forbidden one
    forbidden: str

    def __str__(self) -> str:
        return " → ".join(self.chain) + f" imports {self.forbidden}"


def imported_modules(source: str, module: str = "sample", is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source``, wherever it appears.

    ``module`` is the dotted name of the file, to resolve relative imports. For
    ``from package import name`` both ``package`` and ``package.name`` are listed (``name`` may
    be a submodule).
    """
    found: list[tuple[int, str]] = []
    package_parts = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package_parts[:len(package_parts) - (node.level - 1)] if node.level > 1 else package_parts
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base:
                found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}" if base else alias.name)
                      for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in DYNAMIC_IMPORTERS and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def module_file(name: str) -> tuple[Path, bool] | None:
    """The project file of module ``name`` and whether it is a package, or None."""
    path = ROOT.joinpath(*name.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py"), False
    if (path / "__init__.py").is_file():
        return path / "__init__.py", True
    return None


def forbidden_imports(source: str, module: str = "sample", is_package: bool = False,
                      _seen: set[str] | None = None) -> list[Violation]:
    """Every forbidden import reached from ``source``, directly or through project modules."""
    seen = _seen if _seen is not None else {module}
    violations: list[Violation] = []
    for line, name in imported_modules(source, module, is_package):
        top = name.split(".")[0]
        where = f"{module}:{line}"
        if top in FORBIDDEN:
            violations.append(Violation((where,), top))
            continue
        if top not in PROJECT_PACKAGES:
            continue
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
            dependency = ".".join(parts[:depth])
            if dependency in seen:
                continue
            seen.add(dependency)
            located = module_file(dependency)
            if located is None:
                continue
            path, package = located
            for inner in forbidden_imports(path.read_text(encoding="utf-8"), dependency, package, seen):
                violations.append(Violation((where, *inner.chain), inner.forbidden))
    return violations


def domain_modules() -> list[Path]:
    return sorted(ROOT.glob("services/*/domain/**/*.py"))


def module_name(path: Path) -> tuple[str, bool]:
    relative = path.relative_to(ROOT).with_suffix("")
    if relative.name == "__init__":
        return ".".join(relative.parts[:-1]), True
    return ".".join(relative.parts), False


# -- the checker catches what it should -------------------------------------------------------
@pytest.mark.parametrize("source, forbidden", [
    ("import flask", "flask"),
    ("import kombu.messaging as messaging", "kombu"),
    ("import amqp", "amqp"),
    ("from sqlalchemy import select", "sqlalchemy"),
    ("from sqlalchemy.orm import Session", "sqlalchemy"),
    ("import sqlalchemy.orm", "sqlalchemy"),
    ("from werkzeug.exceptions import NotFound", "werkzeug"),
    ("from marshmallow import Schema, fields", "marshmallow"),
    ("import json, flask", "flask"),
    ("def handler():\n    from kombu import Connection\n    return Connection", "kombu"),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sqlalchemy.orm import Session", "sqlalchemy"),
    ("try:\n    import flask\nexcept ImportError:\n    flask = None", "flask"),
    ("import importlib\nflask = importlib.import_module('flask')", "flask"),
    ("kombu = __import__('kombu')", "kombu"),
    ("from shared.db import Database", "sqlalchemy"),            # through a project module
    ("from shared.web.security import public", "flask"),
    ("from shared.bus import topology", "kombu"),
    ("from shared import db", "sqlalchemy"),
    ("from ..adapters.orm import ClientRecord", "sqlalchemy"),   # relative, out of the domain
], ids=lambda value: value.splitlines()[-1].strip()[:40] if "\n" in value else value[:40])
def test_the_checker_catches_a_framework_import(source, forbidden):
    violations = forbidden_imports(source, "services.registry.domain.sample")
    assert forbidden in {violation.forbidden for violation in violations}, violations


@pytest.mark.parametrize("source", [
    "import json\nfrom decimal import Decimal",
    "import flasky\nfrom sqlalchemy_utils_free import x",       # only whole package names count
    '"""import flask would be wrong here."""\nx = "from kombu import Connection"',
    "from shared.errors import ValidationFailed\nfrom shared.clock import isoformat_z",
    "from .money import Money\nfrom . import rounding",
    "from dataclasses import dataclass\nimport importlib\nmodule = importlib.import_module(name)",
])
def test_the_checker_passes_plain_python(source):
    assert forbidden_imports(source, "services.registry.domain.sample") == []


def test_a_violation_names_the_chain_that_brings_the_import_in():
    violations = forbidden_imports("from shared.db import Database\n", "services.registry.domain.sample")
    assert any(v.chain[0] == "services.registry.domain.sample:1" and v.forbidden == "sqlalchemy"
               and any(step.startswith("shared.db:") for step in v.chain) for v in violations), violations


# -- the domain code itself ---------------------------------------------------------------------
def test_every_service_has_domain_modules_to_check():
    services = sorted(path.name for path in (ROOT / "services").iterdir() if (path / "domain").is_dir())
    assert services, "no services/*/domain folder found"
    for service in services:
        assert list((ROOT / "services" / service / "domain").glob("*.py")), service


def test_domain_code_imports_no_framework_database_or_bus():
    violations = []
    for path in domain_modules():
        name, package = module_name(path)
        violations += forbidden_imports(path.read_text(encoding="utf-8"), name, package)
    assert not violations, "domain code must stay plain Python:\n" + "\n".join(map(str, violations))
