"""The rebuild's stop-with-savepoint when the job is restarting at that moment (its TaskManager lost): it
waits for every task to run and tries again until its deadline, saying so; and which job is live, before,
during and after a rebuild. Flink itself is the drills' business."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from deploy import rebuild
from deploy.errors import FlinkError
from deploy.flink import jobs
from deploy.settings import Settings
from stream import flinkrest
from stream.config import JOB_NAME

REFUSED = "CheckpointException: Not all required tasks are currently running."


class Restarting:
    """A job whose first stop is refused because it restarts, then runs again and stops."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.running_polls = 0
        self.stops = 0

    def tasks_running(self, _settings: object, _job_id: str) -> bool:
        self.running_polls += 1
        return self.running_polls % 2 == 0  # each wait sees it restarting once, then running

    def stop(self, _settings: object, _job_id: str) -> str:
        self.stops += 1
        if self.stops <= self.refusals:
            raise FlinkError(f"`flink stop -m` exited 1:\n{REFUSED}")
        return "/savepoints/savepoint-1"

    def state(self, _settings: object, _job_id: str) -> str:
        return "RUNNING"


@pytest.fixture
def job(monkeypatch: pytest.MonkeyPatch) -> Restarting:
    fake = Restarting(refusals=2)
    monkeypatch.setattr(flinkrest, "tasks_running", fake.tasks_running)
    monkeypatch.setattr(flinkrest, "job_state", fake.state)
    monkeypatch.setattr(jobs, "stop_with_savepoint", fake.stop)
    monkeypatch.setattr(rebuild, "POLL_S", 0.0)
    return fake


def test_a_stop_refused_while_the_job_restarts_is_retried_once_all_its_tasks_run(job: Restarting) -> None:
    said: list[str] = []
    savepoint = rebuild._stop_with_savepoint(Settings.from_env({}), "j1", "live", said.append)
    assert savepoint == "/savepoints/savepoint-1"
    assert job.stops == 3
    retry = f"live: stop-with-savepoint refused ({REFUSED}); retrying once all its tasks run again"
    assert said == [retry, retry]


def test_a_stop_still_refused_at_the_deadline_fails_naming_the_reason(
    job: Restarting, monkeypatch: pytest.MonkeyPatch
) -> None:
    job.refusals = 10**6
    job.running_polls = 1  # running at the first look
    monkeypatch.setattr(rebuild, "STOP_RETRY_S", 0)
    with pytest.raises(rebuild.RebuildError, match=r"live did not stop with a savepoint: .*Not all required"):
        rebuild._stop_with_savepoint(Settings.from_env({}), "j1", "live", lambda _line: None)
    assert job.stops == 1


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


def test_a_savepoint_that_completes_after_flink_stop_gave_up_is_the_one_stopped_with(
    job: Restarting, monkeypatch: pytest.MonkeyPatch
) -> None:
    job.refusals = 1
    # The refused stop's savepoint completes all the same, and the job ends.
    monkeypatch.setattr(flinkrest, "job_state", lambda _s, _j: "FINISHED" if job.stops else "RUNNING")
    latest = {"latest": {"savepoint": {"external_path": "file:/savepoints/savepoint-late"}}}
    monkeypatch.setattr(flinkrest, "checkpoints", lambda _s, _j: latest)
    said: list[str] = []
    assert rebuild._stop_with_savepoint(Settings.from_env({}), "j1", "live", said.append).endswith("-late")
    assert job.stops == 1
    assert (
        said[-1]
        == "live stopped with savepoint file:/savepoints/savepoint-late after `flink stop` gave up waiting"
    )
