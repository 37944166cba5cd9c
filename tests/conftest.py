from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).parent
INTEGRATION = TESTS / "integration"
# Drills stop and restart shared services; everything else runs before them. The cluster profile's drills
# come last: they bring up a second stack of their own and stop it.
DRILLS = INTEGRATION / "test_drills.py"
CLUSTER_DRILLS = INTEGRATION / "test_cluster.py"


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio: the API (Starlette, uvicorn) and its clients do."""
    return "asyncio"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The folder decides the marker, so `-m "not integration"` runs without any service.
    for item in items:
        if INTEGRATION in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)
    # Unit tests first (fast feedback), then integration, drills, the cluster profile's drills last.
    items.sort(
        key=lambda item: (
            Path(item.fspath) == CLUSTER_DRILLS,
            Path(item.fspath) == DRILLS,
            INTEGRATION in Path(item.fspath).parents,
        )
    )
