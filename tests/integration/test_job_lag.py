"""The job's lag in `status` (deploy/status_verdict.py) after restores: the log end minus the offsets the
job's consumer group committed (stream/lag.py), true for partitions idle since the restore and for a
backlog."""

from __future__ import annotations

from collections import Counter

from support.events import registration_record

from deploy import status_verdict
from deploy.flink import jobs
from deploy.flink.checkpoints import latest_restore_point
from deploy.kafka import broker
from deploy.paths import StatePaths
from deploy.rebuild import LiveJob
from deploy.settings import Settings
from deploy.stack import Health
from deploy.testing import wait_for_counts
from deploy.wait import wait_until
from ingest.loadgen import generate, movie_ids
from ingest.publisher import publish_raw
from schemas.catalog import Catalog
from schemas.codec import encode
from schemas.subjects import REGISTERED
from stream import flinkrest, lag
from stream.errors import FlinkRestError

# Job start on the cluster (~20-30 s, minutes on a loaded machine) plus the events and a few checkpoints.
DEADLINE_S = 240
# The load generator's ids for 8 movies, each registered too.
MOVIES = movie_ids(8, "movie-")
# A restored job that is to be looked at before its first checkpoint checkpoints this seldom: Flink triggers
# the first one an interval after the start, far after the look, however fast the machine.
SLOW_CHECKPOINTS_MS = 60_000


def submit(
    settings: Settings,
    name: str,
    ids: list[str],
    restore_from: str | None = None,
    checkpoint_interval_ms: int | None = None,
) -> str:
    config = jobs.job_config(
        settings, name=name, group_id=name, checkpoint_interval_ms=checkpoint_interval_ms
    )
    job_id = jobs.submit(settings, config, restore_from)
    ids.append(job_id)
    return job_id


def group_lag(settings: Settings, name: str) -> dict[str, int]:
    admin = broker.admin(settings)
    behind = lag.positions(admin, lag.group_of(name), [settings.views_topic, settings.movies_topic]).lag()
    return {f"{topic}/{partition}": n for (topic, partition), n in behind.items()}


def zero_lag(settings: Settings) -> dict[str, int]:
    return {f"{t}/{p}": 0 for t in (settings.views_topic, settings.movies_topic) for p in range(4)}


def committed_everything(settings: Settings, name: str) -> bool:
    return group_lag(settings, name) == zero_lag(settings)


def checkpoints_completed(settings: Settings, job_id: str) -> int:
    try:
        return int(flinkrest.checkpoints(settings, job_id)["counts"]["completed"])
    except FlinkRestError:  # a job still being deployed has no checkpoint statistics yet
        return 0


def register_movies(settings: Settings) -> None:
    """A registration per movie on the movies topic, so its partitions hold records the job has read."""
    catalog = Catalog.bundled()
    records = [registration_record(movie, title=f"Title {movie}") for movie in MOVIES]
    messages: list[tuple[str | None, bytes]] = [
        (str(r["movie_id"]), encode(catalog, REGISTERED, r)) for r in records
    ]
    publish_raw(settings.kafka_admin, settings.movies_topic, messages)


def run_until_committed(settings: Settings, name: str, ids: list[str]) -> tuple[str, Counter[str]]:
    """Submits the job, gives it views and registrations, and waits until it counted them exactly and a
    checkpoint committed every offset; returns its id and the counts."""
    job_id = submit(settings, name, ids)
    register_movies(settings)
    truth = Counter(
        generate(settings, events=2_000, movies=len(MOVIES), movie_prefix="movie-", seed=3).per_movie
    )
    wait_for_counts(settings, dict(truth), DEADLINE_S)
    wait_until(lambda: committed_everything(settings, name), DEADLINE_S, "every offset committed")
    return job_id, truth


def restored_from_newest_checkpoint(settings: Settings, name: str, job_id: str, ids: list[str]) -> str:
    jobs.end(settings, job_id)
    paths = StatePaths(settings.home)
    point = latest_restore_point(paths.checkpoints, paths.savepoints, job_id)
    assert point is not None, f"job {job_id} retained no checkpoint"
    return submit(settings, name, ids, restore_from=str(point))


def test_a_job_restored_from_a_checkpoint_with_idle_partitions_is_healthy_with_no_lag(
    isolated: Settings, job_name: str, submitted: list[str]
) -> None:
    first, truth = run_until_committed(isolated, job_name, submitted)
    restored = restored_from_newest_checkpoint(isolated, job_name, first, submitted)
    # Nothing arrives after the restore: every partition stays idle through the restored job's checkpoints.
    wait_until(lambda: checkpoints_completed(isolated, restored) >= 3, DEADLINE_S, "three checkpoints")

    health = status_verdict.job_health(isolated, LiveJob(job_name, job_name))

    assert health.ok, health.detail
    assert health.figures["lag"] == zero_lag(isolated)
    wait_for_counts(isolated, dict(truth), 10)


def test_a_restored_job_with_a_backlog_shows_the_backlog_as_lag_then_drains_it_exactly(
    isolated: Settings, job_name: str, submitted: list[str]
) -> None:
    first, truth = run_until_committed(isolated, job_name, submitted)
    jobs.end(isolated, first)
    before = lag.positions(broker.admin(isolated), job_name, [isolated.views_topic]).end
    backlog = generate(isolated, events=3_000, movies=len(MOVIES), movie_prefix="movie-", seed=5).per_movie
    after = lag.positions(broker.admin(isolated), job_name, [isolated.views_topic]).end
    waiting = {f"{t}/{p}": after[(t, p)] - before[(t, p)] for t, p in after}
    assert sum(waiting.values()) == 3_000
    expected = {**zero_lag(isolated), **waiting}
    assert group_lag(isolated, job_name) == expected

    paths = StatePaths(isolated.home)
    point = latest_restore_point(paths.checkpoints, paths.savepoints, first)
    assert point is not None, f"job {first} retained no checkpoint"
    restored = submit(
        isolated, job_name, submitted, restore_from=str(point), checkpoint_interval_ms=SLOW_CHECKPOINTS_MS
    )
    # Until the restored job completes a checkpoint, its group's offsets are the restored checkpoint's.
    health = status_verdict.job_health(isolated, LiveJob(job_name, job_name))
    assert checkpoints_completed(isolated, restored) == 0, "the restored job checkpointed before the look"
    assert health.figures["lag"] == expected

    wait_for_counts(isolated, dict(truth + Counter(backlog)), DEADLINE_S)

    def drained() -> bool:
        found: Health = status_verdict.job_health(isolated, LiveJob(job_name, job_name))
        return found.ok and found.figures["lag"] == zero_lag(isolated)

    wait_until(drained, DEADLINE_S, "status healthy with no lag")
