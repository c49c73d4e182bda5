"""The fault suite runs alone (``./scripts/test -m faults``): every test in this folder carries
the ``faults`` marker, so the normal run (``-m "not faults"``) leaves it out."""
from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.faults)
