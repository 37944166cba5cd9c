"""Prometheus from Debian scrapes every endpoint of the running system; each listed metric has a sample."""

from __future__ import annotations

import os
import sys
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.events import EPOCH_MS, view_payload

from deploy import procs, stack, supervisor, system
from deploy.flink import jobs
from deploy.paths import StatePaths
from deploy.prometheus import server as prometheus
from deploy.settings import REPO_ROOT, Settings
from deploy.wait import wait_until
from ingest.loadgen import generate
from ingest.publisher import publish_raw
from readmodel.exposition import FLINK_LABEL_VALUE
from schemas.catalog import Catalog
from stream import flinkrest

# Every metric the operator documentation lists; each must return a sample once a job and the API run.
LISTED = [
    # the job's own (stream/metrics.py), renamed by the scrape config
    "movieviews_job_events_applied_total",
    "movieviews_job_snapshots_written_total",
    "movieviews_job_dead_letters_total",
    "movieviews_job_update_size_events_bucket",
    # Flink's own, from the JobManager and the TaskManager
    "flink_jobmanager_job_numRestarts",
    "flink_jobmanager_job_lastCheckpointDuration",
    "flink_jobmanager_job_lastCompletedCheckpointId",
    "flink_taskmanager_job_task_operator_pendingRecords",
    "flink_taskmanager_job_task_operator_KafkaSourceReader_topic_partition_currentOffset",
    # recorded by the shipped rules
    "movieviews:checkpoint_age_seconds",
    "movieviews:checkpoint_duration_seconds",
    "movieviews:restarts_total",
    "movieviews:consumer_lag_records",
    "movieviews:partition_lag_records",
    "movieviews:duplicates_ignored_total",
    # the API's, summed over its worker processes
    "movieviews_api_request_duration_seconds_bucket",
    "movieviews_api_record_views_total",
    "movieviews_api_response_cache_requests_total",
    "movieviews_api_subscriptions_open",
    "movieviews_api_rate_limit_refusals_total",
    "movieviews_readmodel_freshness_seconds",
    "movieviews_readmodel_newest_snapshot_timestamp_seconds",
    "movieviews_kafka_log_end_offset",
]
TARGETS = {"flink-jobmanager", "flink-taskmanager", "api", "prometheus"}
# Job start (~30 s on a busy machine), the first checkpoints and a few 5 s scrapes.
DEADLINE_S = 180


def query(settings: Settings, promql: str) -> list[dict[str, object]]:
    result: list[dict[str, object]] = prometheus.api(
        settings, f"/api/v1/query?query={urllib.parse.quote(promql)}"
    )["result"]
    return result


def wait_for_values(settings: Settings, promql: str, expected: list[float], what: str) -> None:
    """Polls `promql` until its samples' values equal `expected`; fails naming what it saw last."""
    seen: list[float] = []

    def equal() -> bool:
        seen[:] = [float(sample["value"][1]) for sample in query(settings, promql)]  # type: ignore[index]
        return seen == expected

    try:
        wait_until(equal, DEADLINE_S, what, interval_s=2)
    except Exception as exc:
        raise AssertionError(f"{what}: {seen}, not {expected}") from exc


@pytest.fixture
def running_system(isolated: Settings) -> Iterator[tuple[Settings, str]]:
    """A job and a two-worker API on the ports Prometheus scrapes, both on this test's topics and database;
    the settings and the job's name."""
    paths = StatePaths(isolated.home)
    if supervisor.state(paths, stack.API) in supervisor.UP_STATES:
        pytest.skip(
            "the API `movieviews up` started (supervised) holds the scraped port: `up --stack-only` frees it"
        )
    procs.ensure_port_free(isolated.api_port, "this test's API")
    name = f"metrics-{uuid.uuid4().hex[:8]}"
    job_id = jobs.submit(isolated, jobs.job_config(isolated, name=name, group_id=name))
    env = {
        **os.environ,
        "MOVIEVIEWS_PG_DATABASE": isolated.pg_database,
        # the API measures these topics' log end offsets: the lag per partition of this test's job
        "MOVIEVIEWS_VIEWS_TOPIC": isolated.views_topic,
        "MOVIEVIEWS_MOVIES_TOPIC": isolated.movies_topic,
        "MOVIEVIEWS_API_WORKERS": "2",
        # the API exports the lag of its deployment's jobs: this test's
        "MOVIEVIEWS_JOB_NAME": name,
    }
    pid_file, log = paths.run / f"{name}-api.pid", paths.logs / f"{name}-api.log"
    movieviews = Path(sys.executable).with_name("movieviews")
    pid = procs.spawn([str(movieviews), "serve"], pid_file, log, env, REPO_ROOT)

    def answering() -> bool:
        # Only this test's API may answer on the scraped port: one that exits (its port taken) fails here.
        if not procs.is_alive(pid):
            raise procs.died("this test's API", log)
        return system.api_healthy(isolated)

    try:
        wait_until(answering, 60, "the API")
        yield isolated, name
    finally:
        procs.stop(pid)
        pid_file.unlink(missing_ok=True)
        flinkrest.cancel(isolated, job_id)


def test_every_target_is_up_and_each_listed_metric_has_a_sample(running_system: tuple[Settings, str]) -> None:
    settings, job_name = running_system
    produced = generate(settings, rate=2_000, seconds=2, movies=50)

    def targets_up() -> bool:
        found = prometheus.targets(settings)
        return {t["labels"]["job"] for t in found if t["health"] == "up"} >= TARGETS

    wait_until(targets_up, DEADLINE_S, "every scrape target up")
    missing = list(LISTED)

    def all_answered() -> bool:
        missing[:] = [metric for metric in missing if not query(settings, metric)]
        return not missing

    try:
        wait_until(all_answered, DEADLINE_S, "a sample of each listed metric", interval_s=2)
    except Exception as exc:
        raise AssertionError(f"no sample of {missing}") from exc
    # The counter has a sample (0) from the job's start; the views reach it within a push and a scrape.
    wait_for_values(
        settings,
        "sum(movieviews_job_events_applied_total)",
        [float(produced.acknowledged)],
        "events applied",
    )

    # The same 20 views delivered twice (a producer resend): the second copies are dropped, and counted.
    catalog = Catalog.bundled()
    views = [(f"dup-{i % 5}", view_payload(catalog, f"dup-{i % 5}", EPOCH_MS + i)) for i in range(20)]
    publish_raw(settings.kafka_admin, settings.views_topic, views + views)
    duplicates = f'movieviews:duplicates_ignored_total{{job_name="{FLINK_LABEL_VALUE.sub("_", job_name)}"}}'
    wait_for_values(settings, duplicates, [20.0], "duplicates ignored")


def test_the_shipped_rules_load(stack: Settings) -> None:
    groups = prometheus.api(stack, "/api/v1/rules")["groups"]
    alerts = {rule["name"] for group in groups for rule in group["rules"] if rule["type"] == "alerting"}
    assert {
        "CheckpointTooOld",
        "ConsumerLagGrowing",
        "ReadModelStale",
        "DeadLettersArriving",
        "JobRestarting",
        "TargetDown",
    } <= alerts
    assert all(rule["health"] != "err" for group in groups for rule in group["rules"])
