from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from readmodel import ratelimit

TESTS = Path(__file__).parent
INTEGRATION = TESTS / "integration"
# Drills stop and restart shared services; everything else runs before them. The cluster profile's drills
# come last: they bring up a second stack of their own and stop it.
DRILLS = INTEGRATION / "test_drills.py"
CLUSTER_DRILLS = INTEGRATION / "test_cluster.py"

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE (`.ci/run` sets ci), else ci wherever a CI runner sets CI,
# else dev. Neither has a per-example deadline: on a busy 2-core machine an example's time says nothing about
# the property (Hypothesis' default 200 ms failed examples that were merely slow). ci runs more examples and
# prints the blob that replays a failure; dev keeps a local run short. A test's own @settings still wins.
settings.register_profile(
    "ci", deadline=None, max_examples=200, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


class _BucketClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def advance_buckets(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Freezes the clock of the API's token buckets (an app made in-process keeps them in its memory) and
    gives what moves it: a bucket then answers the same on any machine, however slow the requests are."""
    clock = _BucketClock()
    monkeypatch.setattr(ratelimit, "time", clock)

    def advance(seconds: float) -> None:
        clock.now += seconds

    return advance


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
