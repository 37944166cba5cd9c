"""What `flink run` failures say: a restore point the job graph cannot take is named, with the way across.
And a stop-with-savepoint while the job starts or restarts (its TaskManager lost): it waits for every task to
run and tries again until its deadline, saying so."""

from __future__ import annotations

import pytest

from deploy.errors import FlinkError
from deploy.flink import jobs
from deploy.settings import Settings
from stream import flinkrest

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
    assert str(raised.value).endswith("The way across is a rebuild from the log: docs/UPGRADING.md.")


def test_other_submit_failures_keep_flinks_own_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "flink_cli", _refuse)
    with pytest.raises(FlinkError) as raised:
        jobs.submit_module(Settings.from_env({}), "m", [])
    assert str(raised.value) == REFUSED


STOP_REFUSED = "CheckpointException: Not all required tasks are currently running."


class Restarting:
    """A job whose first stop is refused because it restarts, then runs again and stops."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.running_polls = 0
        self.stops = 0

    def tasks_running(self, _settings: object, _job_id: str) -> bool:
        self.running_polls += 1
        return self.running_polls % 2 == 0  # each wait sees it restarting once, then running

    def stop(self, _settings: object, _job_id: str, _timeout_s: float) -> str:
        self.stops += 1
        if self.stops <= self.refusals:
            raise FlinkError(f"`flink stop -m` exited 1:\n{STOP_REFUSED}")
        return "/savepoints/savepoint-1"

    def state(self, _settings: object, _job_id: str) -> str:
        return "FINISHED" if self.stops > self.refusals else "RUNNING"  # a stop with its savepoint ends it


@pytest.fixture
def job(monkeypatch: pytest.MonkeyPatch) -> Restarting:
    fake = Restarting(refusals=2)
    monkeypatch.setattr(flinkrest, "tasks_running", fake.tasks_running)
    monkeypatch.setattr(flinkrest, "job_state", fake.state)
    monkeypatch.setattr(jobs, "_flink_stop", fake.stop)
    monkeypatch.setattr(jobs, "POLL_S", 0.0)
    return fake


def test_a_stop_refused_while_the_job_restarts_is_retried_once_all_its_tasks_run(job: Restarting) -> None:
    said: list[str] = []
    savepoint = jobs.stop_with_savepoint(Settings.from_env({}), "j1", "live", said.append)
    assert savepoint == "/savepoints/savepoint-1"
    assert job.stops == 3
    retry = f"live: stop-with-savepoint refused ({STOP_REFUSED}); retrying once all its tasks run again"
    assert said == [retry, retry]


def test_a_stop_still_refused_at_the_deadline_fails_naming_the_reason(
    job: Restarting, monkeypatch: pytest.MonkeyPatch
) -> None:
    job.refusals = 10**6
    job.running_polls = 1  # running at the first look
    monkeypatch.setattr(jobs, "STOP_RETRY_S", 0)
    with pytest.raises(FlinkError, match=r"live did not stop with a savepoint: .*Not all required"):
        jobs.stop_with_savepoint(Settings.from_env({}), "j1", "live", lambda _line: None)
    assert job.stops == 1


def test_a_savepoint_that_completes_after_flink_stop_gave_up_is_the_one_stopped_with(
    job: Restarting, monkeypatch: pytest.MonkeyPatch
) -> None:
    job.refusals = 1
    # The refused stop's savepoint completes all the same, and the job ends.
    monkeypatch.setattr(flinkrest, "job_state", lambda _s, _j: "FINISHED" if job.stops else "RUNNING")
    latest = {"latest": {"savepoint": {"external_path": "file:/savepoints/savepoint-late"}}}
    monkeypatch.setattr(flinkrest, "checkpoints", lambda _s, _j: latest)
    said: list[str] = []
    assert jobs.stop_with_savepoint(Settings.from_env({}), "j1", "live", said.append).endswith("-late")
    assert job.stops == 1
    assert (
        said[-1]
        == "live stopped with savepoint file:/savepoints/savepoint-late after `flink stop` gave up waiting"
    )


class Stuck(Restarting):
    """A job restarting in a loop: every stop is refused; a cancel ends it."""

    def __init__(self) -> None:
        super().__init__(refusals=10**6)
        self.cancelled = False

    def cancel(self, _settings: object, _job_id: str) -> None:
        self.cancelled = True

    def state(self, _settings: object, _job_id: str) -> str:
        return "CANCELED" if self.cancelled else "RESTARTING"


def stuck_job(monkeypatch: pytest.MonkeyPatch, tasks_running: bool) -> Stuck:
    stuck = Stuck()
    monkeypatch.setattr(flinkrest, "tasks_running", lambda _s, _j: tasks_running)
    monkeypatch.setattr(flinkrest, "job_state", stuck.state)
    monkeypatch.setattr(flinkrest, "cancel", stuck.cancel)
    monkeypatch.setattr(jobs, "_flink_stop", stuck.stop)
    monkeypatch.setattr(jobs, "POLL_S", 0.0)
    return stuck


def test_a_job_that_refuses_every_savepoint_is_cancelled_at_the_deadline_saying_each_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stuck = stuck_job(monkeypatch, tasks_running=True)
    said: list[str] = []
    assert jobs.stop_within(Settings.from_env({}), "j1", "live", said.append, timeout_s=0) is None
    assert stuck.cancelled
    assert said == [
        "stopping live with a savepoint (up to 0 s)...",
        f"live did not stop with a savepoint: {STOP_REFUSED}; "
        "cancelling live (its retained checkpoints stay)...",
    ]


def test_a_job_that_never_runs_all_its_tasks_is_cancelled_without_waiting_for_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stuck = stuck_job(monkeypatch, tasks_running=False)
    said: list[str] = []
    assert jobs.stop_within(Settings.from_env({}), "j1", "live", said.append, timeout_s=0) is None
    assert (stuck.stops, stuck.cancelled) == (0, True)
    assert "every task of live running not ready after 0s" in said[-1]


def test_a_job_that_takes_its_savepoint_in_time_is_not_cancelled(job: Restarting) -> None:
    said: list[str] = []
    assert jobs.stop_within(Settings.from_env({}), "j1", "live", said.append, 60) == "/savepoints/savepoint-1"
    assert said[0] == "stopping live with a savepoint (up to 60 s)..."


def test_a_submission_the_dispatcher_lost_before_admitting_it_is_made_again_once() -> None:
    lost = FlinkError("`flink run -m` exited 31:\nFlinkJobNotFoundException: Could not find Flink job (3cac)")
    attempts: list[int] = []

    def submission() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise lost
        return "Job has been submitted with JobID 3cac"

    assert jobs._run_once_more_if_lost(submission).endswith("3cac")
    assert len(attempts) == 2


def test_a_submission_refused_for_another_reason_is_not_made_again() -> None:
    attempts: list[int] = []

    def submission() -> str:
        attempts.append(1)
        raise FlinkError("`flink run -m` exited 1:\nCould not find a file")

    with pytest.raises(FlinkError, match="Could not find a file"):
        jobs._run_once_more_if_lost(submission)
    assert len(attempts) == 1
