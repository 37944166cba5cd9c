"""A real failure makes the shipped alert fire in the running Prometheus: a test job of its own whose upserts
wait on someone's lock, or whose database goes away, so other tests on the shared stack see nothing."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from forwarded_database import Database

from deploy.flink import jobs
from deploy.postgres import server as postgres
from deploy.prometheus import server as prometheus
from deploy.settings import Settings
from deploy.testing import wait_for_counts
from deploy.wait import wait_until
from ingest.loadgen import generate
from stream import flinkrest

# Job start (~30 s on a busy machine), the sink's retries before it fails, 30 s of checkpoint age, the
# job's restart delay (up to 30 s) and a few 5 s evaluations.
DEADLINE_S = 240


@pytest.fixture
def database(isolated: Settings) -> Iterator[Database]:
    found = Database(isolated)
    found.up()
    yield found
    found.down()


def firing(settings: Settings, alertname: str, job_id: str) -> list[dict[str, Any]]:
    """The alerts named `alertname` that Prometheus has firing now for the job `job_id`."""
    return [
        alert
        for alert in prometheus.api(settings, "/api/v1/alerts")["alerts"]
        if alert["labels"]["alertname"] == alertname
        and alert["labels"].get("job_id") == job_id
        and alert["state"] == "firing"
    ]


def checkpoint_age(settings: Settings, job_id: str) -> float | None:
    query = f'movieviews:checkpoint_age_seconds{{job_id="{job_id}"}}'
    found = prometheus.api(settings, f"/api/v1/query?query={query}")["result"]
    return float(found[0]["value"][1]) if found else None


def counted_and_checkpointing(settings: Settings, job_id: str) -> dict[str, int]:
    """Views counted exactly by the healthy job `job_id`, once Prometheus sees its checkpoints: the counts."""
    first = generate(settings, events=300, movies=5, seed=1).per_movie
    wait_for_counts(settings, first, DEADLINE_S)
    wait_until(
        lambda: (checkpoint_age(settings, job_id) or 99) < 10, DEADLINE_S, "Prometheus seeing its checkpoints"
    )
    return first


def test_a_job_whose_upserts_wait_on_a_lock_pages_checkpoint_too_old_and_it_resolves_once_released(
    isolated: Settings, job: str
) -> None:
    if not isolated.prometheus:
        pytest.skip("this stack runs no Prometheus (MOVIEVIEWS_PROMETHEUS=off)")
    first = counted_and_checkpointing(isolated, job)
    assert firing(isolated, "CheckpointTooOld", job) == []

    # Someone's transaction holds the table: the sink's upsert waits on the lock (it has no timeout), so the
    # checkpoint barrier waits behind it and no checkpoint completes, while the job itself keeps running.
    with psycopg.connect(postgres.admin_conninfo(isolated, isolated.pg_database)) as locker:
        locker.execute("LOCK TABLE movie_stats IN EXCLUSIVE MODE")
        second = generate(isolated, events=300, movies=5, seed=2).per_movie
        wait_until(
            lambda: bool(firing(isolated, "CheckpointTooOld", job)), DEADLINE_S, "CheckpointTooOld firing"
        )
        [paged] = firing(isolated, "CheckpointTooOld", job)
        assert paged["labels"]["severity"] == "page"
        assert paged["annotations"]["runbook_url"] == "docs/OPERATIONS.md#checkpointtooold"
        assert paged["annotations"]["summary"].startswith(
            f"job {paged['labels']['job_name']}: last checkpoint "
        )
        assert flinkrest.restarts(isolated, job) == 0

    wait_until(lambda: not firing(isolated, "CheckpointTooOld", job), DEADLINE_S, "CheckpointTooOld resolved")
    wait_for_counts(isolated, dict(Counter(first) + Counter(second)), DEADLINE_S)


def test_a_job_whose_database_goes_away_pages_job_restarting_and_counts_exactly_once_back(
    isolated: Settings, job_name: str, database: Database, submitted: list[str]
) -> None:
    if not isolated.prometheus:
        pytest.skip("this stack runs no Prometheus (MOVIEVIEWS_PROMETHEUS=off)")
    config = dataclasses.replace(
        jobs.job_config(isolated, name=job_name, group_id=job_name),
        jdbc_url=f"jdbc:postgresql://127.0.0.1:{database.port}/{isolated.pg_database}",
    )
    submitted.append(jobs.submit(isolated, config))
    job_id = submitted[-1]
    first = counted_and_checkpointing(isolated, job_id)
    assert firing(isolated, "JobRestarting", job_id) == []

    # Each restart fails again once the replayed rows reach the sink. CheckpointTooOld is not asserted here:
    # a restored job may complete a checkpoint before its replayed rows reach the sink, once per restart, and
    # the restarts come about every 30 s at the longest delay, the alert's own threshold.
    database.down()
    second = generate(isolated, events=300, movies=5, seed=2).per_movie
    wait_until(lambda: bool(firing(isolated, "JobRestarting", job_id)), DEADLINE_S, "JobRestarting firing")
    [paged] = firing(isolated, "JobRestarting", job_id)
    assert paged["labels"]["severity"] == "page"
    assert paged["annotations"]["runbook_url"] == "docs/OPERATIONS.md#jobrestarting"

    database.up()
    wait_for_counts(isolated, dict(Counter(first) + Counter(second)), DEADLINE_S)
