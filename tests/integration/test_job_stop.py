"""Stopping a job in bounded time (`jobs.stop_within`, what `down` does to the main job) on test jobs of
their own: a healthy one stops with a savepoint and resumes from it with exact counts; one restarting in a
loop (its sink's Postgres port closed) is cancelled at the deadline and keeps its newest checkpoint, the one
`up` resumes from."""

from __future__ import annotations

import dataclasses
import socket

from deploy.flink import jobs
from deploy.flink.checkpoints import latest_restore_point
from deploy.paths import StatePaths
from deploy.settings import Settings
from deploy.testing import wait_for_counts
from deploy.wait import wait_until
from ingest.loadgen import generate
from stream import flinkrest
from stream.config import JobConfig

DEADLINE_S = 240
# Bound of the stuck job's stop: short, as the test's own, since nothing it waits for will come.
STUCK_STOP_S = 20


def submit(settings: Settings, config: JobConfig, ids: list[str], restore_from: str | None = None) -> str:
    ids.append(jobs.submit(settings, config, restore_from))
    return ids[-1]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def completed_checkpoint(settings: Settings, job_id: str) -> int | None:
    completed = (flinkrest.checkpoints(settings, job_id).get("latest") or {}).get("completed")
    return int(completed["id"]) if completed else None


def test_a_healthy_job_stops_with_a_savepoint_and_resumes_from_it_with_exact_counts(
    isolated: Settings, job_name: str, submitted: list[str]
) -> None:
    config = jobs.job_config(isolated, name=job_name, group_id=job_name)
    job_id = submit(isolated, config, submitted)
    first = generate(isolated, events=5_000, movies=50, seed=1).per_movie
    wait_for_counts(isolated, first, DEADLINE_S)
    said: list[str] = []
    savepoint = jobs.stop_within(isolated, job_id, job_name, said.append, 60)
    assert savepoint is not None
    assert said == [f"stopping {job_name} with a savepoint (up to 60 s)..."]
    assert flinkrest.job_state(isolated, job_id) == flinkrest.JobState.FINISHED

    submit(isolated, config, submitted, savepoint)
    second = generate(isolated, events=5_000, movies=50, seed=2).per_movie
    truth = {movie: first.get(movie, 0) + second.get(movie, 0) for movie in {*first, *second}}
    wait_for_counts(isolated, truth, DEADLINE_S)


def test_a_job_restarting_in_a_loop_is_cancelled_at_the_deadline_keeping_its_newest_checkpoint(
    isolated: Settings, job_name: str, submitted: list[str]
) -> None:
    # Nothing listens on the sink's port: the job runs and checkpoints until its first write, then every
    # write fails (after the sink's retries), the job restarts, replays, fails again, for ever.
    config = dataclasses.replace(
        jobs.job_config(isolated, name=job_name, group_id=job_name),
        jdbc_url=f"jdbc:postgresql://127.0.0.1:{closed_port()}/{isolated.pg_database}",
    )
    job_id = submit(isolated, config, submitted)
    wait_until(lambda: completed_checkpoint(isolated, job_id) is not None, DEADLINE_S, "a first checkpoint")
    generate(isolated, events=100, movies=5, seed=3)
    wait_until(
        lambda: flinkrest.job_metrics(isolated, job_id, ["numRestarts"]).get("numRestarts", 0) >= 1,
        DEADLINE_S,
        f"{job_name} restarting",
    )

    said: list[str] = []
    assert jobs.stop_within(isolated, job_id, job_name, said.append, STUCK_STOP_S) is None
    assert flinkrest.job_state(isolated, job_id) == flinkrest.JobState.CANCELED
    assert said[0] == f"stopping {job_name} with a savepoint (up to {STUCK_STOP_S} s)..."
    assert said[-1].endswith(f"; cancelling {job_name} (its retained checkpoints stay)...")
    newest = completed_checkpoint(isolated, job_id)
    paths = StatePaths(isolated.home)
    kept = latest_restore_point(paths.checkpoints, paths.savepoints, job_id)
    assert kept == paths.checkpoints / job_id / f"chk-{newest}"
