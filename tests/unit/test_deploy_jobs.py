"""What `flink run` failures say: a restore point the job graph cannot take is named, with the way across."""

from __future__ import annotations

import pytest

from deploy.errors import FlinkError
from deploy.flink import jobs
from deploy.settings import Settings

REFUSED = (
    "`flink run -m` exited 31:\nCaused by: java.lang.IllegalStateException: Failed to rollback to "
    "checkpoint/savepoint file:/s/savepoint-1. Cannot map checkpoint/savepoint state for operator a76 to the "
    "new program, because the operator is not available in the new program."
)


def _refuse(*_args: object, **_kwargs: object) -> str:
    raise FlinkError(REFUSED)


def test_a_restore_point_from_an_older_job_graph_is_named_with_the_way_across(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jobs, "flink_cli", _refuse)
    with pytest.raises(FlinkError) as raised:
        jobs.submit_module(Settings.from_env({}), "m", [], "/s/savepoint-1")
    assert str(raised.value).startswith("this version's job cannot restore /s/savepoint-1:")
    assert "stream/DEDUP.md" in str(raised.value)


def test_other_submit_failures_keep_flinks_own_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "flink_cli", _refuse)
    with pytest.raises(FlinkError) as raised:
        jobs.submit_module(Settings.from_env({}), "m", [])
    assert str(raised.value) == REFUSED
