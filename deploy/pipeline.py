"""The system's health beyond its processes, for `movieviews status`: the API's readiness and the main job's
figures (state, last checkpoint age and duration, restarts, consumer lag per partition, read-model freshness).

Unhealthy means what the shipped alert rules page for (deploy/prometheus/rules.yml), with the same bounds.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import psycopg
from confluent_kafka import KafkaException

from deploy.kafka import broker
from deploy.prometheus.server import CHECKPOINT_AGE_INTERVALS
from deploy.rebuild import MAIN, live_job
from deploy.settings import Settings
from deploy.stack import Health
from readmodel.tables import movie_stats
from readmodel.versions import VersionError
from stream import flinkrest
from stream.config import JOB_NAME
from stream.errors import FlinkRestError

# The read model may lag the log by this much while events wait (rules.yml: ReadModelStale).
FRESHNESS_LIMIT_S = 5.0


def api_health(settings: Settings) -> Health:
    url = f"{settings.api_url}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            body = json.load(response)
    except urllib.error.HTTPError as exc:  # 503: up, but Postgres or Kafka is not answering it
        body = json.load(exc)
    except (OSError, ValueError) as exc:
        return Health("api", False, f"GET {url} failed: {exc}; start it with `deploy/movieviews up`")
    checks = {k: v for k, v in body.items() if k != "status"}
    detail = f"GET /readyz: {body.get('status')} ({', '.join(f'{k} {v}' for k, v in checks.items())})"
    return Health("api", body.get("status") == "ready", detail, checks)


def job_health(settings: Settings) -> Health:
    try:
        job = live_job(settings, MAIN)
        # The job list again only to say how the last one ended: a running job's health needs one listing.
        found = [] if job else [each for each in flinkrest.jobs(settings) if each.name == JOB_NAME]
    except (FlinkRestError, VersionError) as exc:
        return Health("job", False, str(exc))
    if job is None:
        last = f"; the last one is {found[0].state}" if found else ""
        return Health(
            "job", False, f"no job named {JOB_NAME} runs{last}: start it with `deploy/movieviews up`"
        )
    figures = _figures(settings, job.job_id)
    figures["state"] = job.state
    return _judge(settings, job.job_id, figures)


def _figures(settings: Settings, job_id: str) -> dict[str, Any]:
    checkpoints = flinkrest.checkpoints(settings, job_id)
    completed = flinkrest.last_completed(checkpoints)
    restarts = flinkrest.job_metrics(settings, job_id, ["numRestarts"]).get("numRestarts", 0.0)
    positions = flinkrest.source_offsets(settings, job_id)
    try:
        ends = broker.end_offsets(settings, sorted(positions))
    except KafkaException:
        ends = {}
    # currentOffset is the last offset read (-1 before any); the next to read is one past it.
    lag = {f"{t}/{p}": ends[(t, p)] - max(pos + 1, 0) for (t, p), pos in positions.items() if (t, p) in ends}
    return {
        "checkpoint_age_s": None if completed is None else completed.age_s,
        "checkpoint_duration_s": None if completed is None else completed.duration_s,
        "checkpoints_failed": checkpoints["counts"]["failed"],
        "restarts": int(restarts),
        "lag": lag,
        "freshness_s": _freshness(settings),
    }


def _freshness(settings: Settings) -> float | None:
    """Now minus the newest snapshot's updated_at; None if Postgres does not answer or the table is empty."""
    try:
        with psycopg.connect(settings.reader_dsn, connect_timeout=3) as conn:
            row = conn.execute(f"SELECT extract(epoch FROM now() - max(updated_at)) FROM {movie_stats.name}")
            value = row.fetchone()
    except psycopg.Error:
        return None
    return None if value is None or value[0] is None else float(value[0])


def _judge(settings: Settings, job_id: str, figures: dict[str, Any]) -> Health:
    problems = []
    if figures["state"] != "RUNNING":
        problems.append(f"state {figures['state']}")
    age_limit = CHECKPOINT_AGE_INTERVALS * settings.checkpoint_interval_ms / 1000
    age = figures["checkpoint_age_s"]
    if age is None or age > age_limit:
        problems.append(f"no checkpoint completed in {age_limit:.0f}s")
    lag = sum(figures["lag"].values())
    freshness = figures["freshness_s"]
    if lag > 0 and freshness is not None and freshness > FRESHNESS_LIMIT_S:
        problems.append(f"read model {freshness:.1f}s behind while {lag} events wait")
    detail = (
        f"{job_id} {figures['state']}, last checkpoint {_seconds(age)} ago "
        f"(took {_seconds(figures['checkpoint_duration_s'], 3)}), {figures['restarts']} restarts, lag {lag} "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(figures['lag'].items()))}), "
        f"read model {_seconds(freshness)} old"
    )
    if problems:
        detail = f"{'; '.join(problems)}: {detail}"
    return Health("job", not problems, detail, figures)


def _seconds(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}s"
