"""The verdict of `movieviews status` beyond its processes: the API's readiness and the main job's figures
(state, last checkpoint age and duration, restarts, consumer lag per partition, read-model freshness), each
judged healthy or not.

Unhealthy means what the shipped alert rules page for (deploy/prometheus/rules.yml), with the same bounds; the
lag and the staleness rule are `stream.lag`'s. The dashboard's live figures of the same pipeline, which judge
nothing, are `readmodel.pipeline`'s; both read Flink through `stream.flinkrest` and lag through `stream.lag`.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import psycopg

from deploy.kafka import broker
from deploy.prometheus.server import CHECKPOINT_AGE_INTERVALS
from deploy.rebuild import LiveJob, live_job, main_job
from deploy.settings import Settings
from deploy.stack import Health
from readmodel.tables import movie_stats
from readmodel.versions import VersionError
from stream import flinkrest, lag
from stream.errors import FlinkRestError, LagError


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


def job_health(settings: Settings, live: LiveJob | None = None) -> Health:
    """The live job of `live`'s lineage (the deployment's own job unless told another)."""
    live = live or main_job(settings)
    try:
        job = live_job(settings, live)
        # The job list again only to say how the last one ended: a running job's health needs one listing.
        found = [] if job else [each for each in flinkrest.jobs(settings) if each.name == live.name]
    except (FlinkRestError, VersionError) as exc:
        return Health("job", False, str(exc))
    if job is None:
        last = f"; the last one is {found[0].state}" if found else ""
        return Health(
            "job", False, f"no job named {live.name} runs{last}: start it with `deploy/movieviews up`"
        )
    figures = _figures(settings, job.job_id, lag.group_of(job.name))
    figures["state"] = job.state
    if job.state != "RUNNING" or figures["restarts"]:
        figures["failure"], figures["same_failures"] = last_failure(flinkrest.failures(settings, job.job_id))
    return _judge(settings, job.job_id, lag.group_of(job.name), figures)


def _figures(settings: Settings, job_id: str, group: str) -> dict[str, Any]:
    checkpoints = flinkrest.checkpoints(settings, job_id)
    completed = flinkrest.last_completed(checkpoints)
    restarts = flinkrest.job_metrics(settings, job_id, ["numRestarts"]).get("numRestarts", 0.0)
    try:
        behind = lag.positions(broker.admin(settings), group, _topics(settings)).lag()
    except LagError:
        behind = {}
    return {
        "checkpoint_age_s": None if completed is None else completed.age_s,
        "checkpoint_duration_s": None if completed is None else completed.duration_s,
        "checkpoints_failed": checkpoints["counts"]["failed"],
        "restarts": int(restarts),
        "lag": {f"{t}/{p}": n for (t, p), n in behind.items()},
        "freshness_s": freshness(settings),
        **_state(settings, job_id, completed),
    }


def _state(
    settings: Settings, job_id: str, completed: flinkrest.CompletedCheckpoint | None
) -> dict[str, int | None]:
    """The state's size in the last checkpoint, its files on local disk and the ids the deduplication
    remembers (RocksDB's estimates; None on the hashmap backend)."""
    found = flinkrest.state_figures(settings, job_id)
    return {
        "state_bytes": None if completed is None else completed.state_bytes,
        "state_disk_bytes": found.total_disk_bytes,
        "remembered_ids": found.remembered_ids,
    }


def _topics(settings: Settings) -> list[str]:
    return [settings.views_topic, settings.movies_topic]


def freshness(settings: Settings) -> float | None:
    """Now minus the newest snapshot's updated_at; None if Postgres does not answer or the table is empty."""
    try:
        with psycopg.connect(settings.reader_dsn, connect_timeout=3) as conn:
            row = conn.execute(f"SELECT extract(epoch FROM now() - max(updated_at)) FROM {movie_stats.name}")
            value = row.fetchone()
    except psycopg.Error:
        return None
    return None if value is None or value[0] is None else float(value[0])


def _judge(settings: Settings, job_id: str, group: str, figures: dict[str, Any]) -> Health:
    problems = []
    if figures["state"] != "RUNNING":
        problems.append(f"state {figures['state']}")
    age_limit = CHECKPOINT_AGE_INTERVALS * settings.checkpoint_interval_ms / 1000
    age = figures["checkpoint_age_s"]
    if age is None or age > age_limit:
        problems.append(f"no checkpoint completed in {age_limit:.0f}s")
    total = sum(figures["lag"].values())
    freshness = figures["freshness_s"]
    waiting = _waiting(settings, group) if total and (freshness or 0) > lag.FRESHNESS_LIMIT_S else 0
    if waiting:
        problems.append(f"read model {freshness:.1f}s behind while {waiting} events wait")
    detail = (
        f"{job_id} {figures['state']}, last checkpoint {_seconds(age)} ago "
        f"(took {_seconds(figures['checkpoint_duration_s'], 3)}), {figures['restarts']} restarts, "
        f"lag {total} ({', '.join(f'{k}: {v}' for k, v in sorted(figures['lag'].items()))}), "
        f"read model {_seconds(freshness)} old, state {_mib(figures['state_bytes'])} "
        f"(on disk {_mib(figures['state_disk_bytes'])}), remembered ids {_count(figures['remembered_ids'])}"
    )
    if figures.get("failure"):
        detail += f"; last failure ({figures['same_failures']} in a row alike): {figures['failure']}"
        if figures["state"] != "RUNNING" and figures["same_failures"] > 1:
            problems.append(f"restarting on the same failure {figures['same_failures']} times")
    if problems:
        detail = f"{'; '.join(problems)}: {detail}"
    return Health("job", not problems, detail, figures)


def last_failure(stacktraces: list[str]) -> tuple[str | None, int]:
    """The newest failure's root cause (its deepest `Caused by:`, else its first line) and how many failures
    in a row, newest first, had the same cause: a job that restarts on the same record fails alike each
    time (counts and offsets in the message aside), one that rides out an outage may not."""
    causes = [_root_cause(trace) for trace in stacktraces]
    if not causes:
        return None, 0
    newest = _shape(causes[-1])
    alike = 0
    for cause in reversed(causes):
        if _shape(cause) != newest:
            break
        alike += 1
    return causes[-1], alike


def _root_cause(stacktrace: str) -> str:
    lines = [line.strip() for line in stacktrace.splitlines() if line.strip()]
    caused = [line.removeprefix("Caused by: ") for line in lines if line.startswith("Caused by: ")]
    return (caused[-1] if caused else lines[0] if lines else "")[:300]


def _shape(cause: str) -> str:
    return re.sub(r"\d+", "N", cause)


def _waiting(settings: Settings, group: str) -> int:
    """The records still uncommitted after a few checkpoints (`stream.lag`'s staleness rule)."""
    try:
        found = lag.waiting(
            broker.admin(settings), group, _topics(settings), lag.grace_s(settings.checkpoint_interval_ms)
        )
    except LagError:
        return 0
    return sum(found.values())


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:,.1f} MiB"


def _count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def _seconds(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}s"
