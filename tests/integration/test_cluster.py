"""The cluster profile's drills: 3 Kafka nodes, ZooKeeper, 2 JobManagers and 2 TaskManagers brought up once,
beside the single stack on ports of their own, each node or manager killed under load, counts exact per movie.

The profile is started here and not by the session's `stack` fixture: it is a second stack (its own state dir,
`MOVIEVIEWS_CLUSTER_*` ports, 8 JVMs), so it runs last (tests/conftest.py) and is stopped, with its data
removed, when the module ends, passed or failed. A cluster stack already running (`up --profile cluster`) is
reused and left as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from deploy import stack as deploy_stack
from deploy.drills.registry import CLUSTER_DRILLS
from deploy.paths import StatePaths
from deploy.settings import Settings


def say(line: str) -> None:
    print(f"[cluster] {line}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Settings]:
    settings = Settings.from_env(os.environ, profile="cluster")
    paths = StatePaths(settings.home)
    already_running = deploy_stack.any_running(settings, paths)
    try:
        deploy_stack.up(settings, paths, say)
        yield settings
    finally:
        if not already_running and os.environ.get("MOVIEVIEWS_KEEP_STACK") != "1":
            deploy_stack.down(settings, paths, say)
            for removed in deploy_stack.remove_data(settings, paths):
                say(f"removed {removed}")


@pytest.mark.parametrize("name", list(CLUSTER_DRILLS))
def test_cluster_drill_keeps_counts_exact(cluster: Settings, name: str) -> None:
    report = CLUSTER_DRILLS[name](cluster)
    assert (report.lost, report.double_counted) == (0, 0), report
    assert report.passed, report
