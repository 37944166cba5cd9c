"""Every drill is also an integration test: the real stack broken on purpose, counts exact per movie.

They run last in the session (see tests/conftest.py): several restart Kafka and Postgres under everyone.
"""

from __future__ import annotations

import pytest

from deploy.drills.registry import DRILLS
from deploy.settings import Settings


@pytest.mark.parametrize("name", list(DRILLS))
def test_drill_keeps_counts_exact(stack: Settings, name: str) -> None:
    report = DRILLS[name](stack)
    assert (report.lost, report.double_counted) == (0, 0), report
    # The notes say which check failed: the report's repr is cut short in the failure message.
    assert report.passed, "\n".join(report.notes)
