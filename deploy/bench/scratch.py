"""What the stream benchmarks share: a scratch environment (`deploy.sandbox.Sandbox`, as the drills use: own
topics, database, jobs and API on the running stack), pre-loading it with the load generator, and timing a job
to exact totals."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from deploy import progress
from deploy.errors import BenchmarkError
from deploy.flink import jobs
from deploy.sandbox import Sandbox
from deploy.testing import wait_for_counts
from deploy.wait import wait_until
from ingest.loadgen import generate
from stream import flinkrest
from stream.upsert import TABLE

# Seeded popularity draw: the same movies and counts each run, so before/after figures compare like for like.
SEED = 7
# Submission, scheduling and the Python workers' start-up on a loaded 2-core machine.
START_TIMEOUT_S = 180
# A timed job gives up below this rate, on average. The slowest load measured is one new movie per view at
# 10M movies on RocksDB: 4,426 events/s over the run, 3,700 at its end, with a pause of over 3 minutes in it
# (`bench state-scale`, docs/PERFORMANCE.md).
MIN_EVENTS_PER_S = 500


@dataclass(frozen=True)
class Load:
    truth: dict[str, int]
    events: int
    seconds: float


@dataclass(frozen=True)
class JobRun:
    job_id: str
    events: int
    seconds_to_running: float
    seconds_to_exact: float

    @property
    def events_per_s(self) -> float:
        """From every task RUNNING (sources reading) to Postgres holding the exact totals."""
        return self.events / self.seconds_to_exact


def preload(env: Sandbox, events: int, movies: int, zipf: float = 1.1, in_turn: bool = False) -> Load:
    """`in_turn`: the movies one after another (`ingest.loadgen.generate`), not drawn by popularity."""
    with progress.working(f"pre-loading {events:,} events over {movies:,} movies", events) as step:
        result = generate(
            env.settings,
            events=events,
            movies=movies,
            zipf=zipf,
            in_turn=in_turn,
            seed=SEED,
            on_progress=lambda done: step.update(done.acknowledged, detail=f"{done.failed} failed"),
        )
    if result.failed:
        raise BenchmarkError(f"{result.failed} of {result.sent} events not acknowledged: no ground truth")
    return Load(result.per_movie, result.acknowledged, result.elapsed_s)


def project_job(
    env: Sandbox,
    tag: str,
    parallelism: int = 1,
    checkpoint_interval_ms: int | None = None,
    dedup_window_s: int | None = None,
    trending: bool = True,
    state_backend: str | None = None,
) -> Callable[[], str]:
    config = jobs.job_config(
        env.settings,
        name=f"{env.name}-{tag}",
        group_id=f"{env.name}-{tag}",
        parallelism=parallelism,
        checkpoint_interval_ms=checkpoint_interval_ms,
        dedup_window_s=dedup_window_s,
        trending=trending,
        state_backend=state_backend,
    )
    return lambda: jobs.submit(env.settings, config)


def timed_job(
    env: Sandbox,
    load: Load,
    submit: Callable[[], str],
    table: str = TABLE,
    keep_running: bool = False,
) -> JobRun:
    """Submits, waits for every task to run, then times until `table` holds exactly the truth."""
    started = time.monotonic()
    job_id = submit()
    try:
        wait_until(lambda: flinkrest.tasks_running(env.settings, job_id), START_TIMEOUT_S, f"job {job_id}")
        running = time.monotonic()
        timeout_s = 120 + load.events / MIN_EVENTS_PER_S
        exact = wait_for_counts(env.settings, load.truth, timeout_s, table)
    except BaseException:
        flinkrest.cancel(env.settings, job_id)
        raise
    if not keep_running:
        stop(env, job_id)
    return JobRun(job_id, load.events, running - started, exact)


def stop(env: Sandbox, job_id: str) -> None:
    """Cancels and waits until the job is gone, so no write of it lands after this returns."""
    flinkrest.cancel(env.settings, job_id)
    wait_until(
        lambda: flinkrest.job_state(env.settings, job_id) == flinkrest.JobState.CANCELED,
        60,
        f"job {job_id} cancelled",
    )


def checkpoints_after(env: Sandbox, job_id: str, count: int) -> dict[str, Any]:
    """The job's checkpoint statistics (JobManager REST) once `count` more checkpoints have completed."""
    first = flinkrest.checkpoints(env.settings, job_id)["counts"]["completed"]
    deadline = time.monotonic() + count * env.settings.checkpoint_interval_ms / 1000 + 120
    while time.monotonic() < deadline:
        found = flinkrest.checkpoints(env.settings, job_id)
        if found["counts"]["completed"] >= first + count:
            return found
        time.sleep(1)
    raise TimeoutError(f"job {job_id}: fewer than {count} checkpoints completed after exact totals")


def reset_read_model(env: Sandbox) -> None:
    """Empties `movie_stats` so a second job over the same log is timed from zero, not found already exact."""
    with psycopg.connect(env.settings.owner_dsn) as conn:
        conn.execute(f"TRUNCATE {TABLE}")
