"""Which job is live, before, during and after a rebuild. Flink itself is the drills' business."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from deploy.settings import Settings
from stream import flinkrest
from stream.config import JOB_NAME


def asked_not() -> int:
    raise AssertionError("the slot is asked only while two jobs run")


@pytest.mark.parametrize(
    ("running", "slot", "live"),
    [
        ([("a", "movieviews")], asked_not, "a"),
        ([("b", "movieviews-v2"), ("x", "other")], asked_not, "b"),
        ([("a", "movieviews"), ("b", "movieviews-v2")], lambda: 2, "b"),
        ([("a", "movieviews"), ("b", "movieviews-v2")], lambda: 1, "a"),
    ],
)
def test_the_live_job_is_the_one_writing_the_slot_readers_read(
    monkeypatch: pytest.MonkeyPatch, running: list[tuple[str, str]], slot: Callable[[], int], live: str
) -> None:
    found = [flinkrest.JobInfo(job_id, name, "RUNNING") for job_id, name in running]
    monkeypatch.setattr(flinkrest, "jobs", lambda _settings: found)
    job = flinkrest.live(Settings.from_env({}), JOB_NAME, slot)
    assert job is not None and job.job_id == live


def test_no_live_job_when_only_ended_ones_carry_the_names(monkeypatch: pytest.MonkeyPatch) -> None:
    found = [
        flinkrest.JobInfo("a", "movieviews", "FINISHED"),
        flinkrest.JobInfo("b", "movieviews-v2", "FAILED"),
    ]
    monkeypatch.setattr(flinkrest, "jobs", lambda _settings: found)
    assert flinkrest.live(Settings.from_env({}), JOB_NAME, asked_not) is None
