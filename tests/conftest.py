from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).parent
# Drills stop and restart shared services; everything else runs before them.
LAST = TESTS / "integration" / "test_drills.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The folder decides the marker, so `-m "not integration"` runs without any service.
    for item in items:
        if (TESTS / "integration") in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)
    items.sort(key=lambda item: Path(item.fspath) == LAST)
