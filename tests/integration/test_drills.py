"""Every drill is also an integration test: the real stack broken on purpose, counts exact per movie.

They run last in the session (see tests/conftest.py): several restart Kafka and Postgres under everyone.
"""

from __future__ import annotations

import pytest

from deploy.drills.registry import DRILLS
from deploy.settings import Settings

# Not yet seen green on this machine before landing: they run with `movieviews drill all` and join CI once
# they have passed here. crash-all's one full run under the supervisor failed on its ground truth (events its
# load gave up on were in the log; the load rides out longer since) and has not passed yet.
NOT_YET_IN_CI = frozenset({"crash-all"})


@pytest.mark.parametrize("name", [name for name in DRILLS if name not in NOT_YET_IN_CI])
def test_drill_keeps_counts_exact(stack: Settings, name: str) -> None:
    report = DRILLS[name](stack)
    assert (report.lost, report.double_counted) == (0, 0), report
    assert report.passed, report
