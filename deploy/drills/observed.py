"""What an operator saw during a drill: the figures alerted on must move when the drill breaks something,
read back through Prometheus' HTTP API (the shipped scrape config and recording rules), or, in a profile
without Prometheus, through Flink's REST API as `status` reads them."""

from __future__ import annotations

import urllib.parse

from deploy.errors import NotReadyError
from deploy.prometheus import server as prometheus
from deploy.settings import Settings
from deploy.wait import wait_until
from stream import flinkrest
from stream.errors import FlinkRestError

# Recording rules are evaluated every 5 s on samples scraped every 2-5 s: a change shows within this.
VISIBLE_WITHIN_S = 60
# The checkpoint age rule stays below about 2.5 s while 2 s checkpoints complete. It lags a stall by up to its
# 5 s change window and evaluates every 5 s, so the stall of a TaskManager kill shows as a peak that depends
# on the evaluation's phase: not a dependable rise. A drill checks the restart counter moved and the age is
# back at its steady values; the peak is reported, not judged.
STEADY_AGE_S = 4.0


def _value(settings: Settings, promql: str) -> float | None:
    query = urllib.parse.quote(promql)
    result = prometheus.api(settings, f"/api/v1/query?query={query}")["result"]
    return max((float(r["value"][1]) for r in result), default=None)


def checkpoint_recorded(settings: Settings, job_id: str) -> bool:
    """Whether Prometheus has seen `job_id` complete a checkpoint: what `movieviews:checkpoint_age_seconds`
    measures from (before it, the rule shows the job's running time). A drill that breaks checkpoints waits
    for it: a TaskManager killed before any scrape saw the first checkpoint's id change leaves the rule on the
    running time, with no age rise to see."""
    changes = f'changes(flink_jobmanager_job_lastCompletedCheckpointId{{job_id="{job_id}"}}[5s]) > 0'
    return _value(settings, f"max_over_time((timestamp({changes}))[30m:2s])") is not None


def restarts_moved_and_checkpoints_resumed(
    settings: Settings, job_id: str, since_s: float
) -> tuple[bool, str]:
    """After a TaskManager kill: the restart counter went up, and the checkpoint age is at its steady values
    again. Returns whether both were seen, and what was (with the age's peak over the window)."""
    job = f'{{job_id="{job_id}"}}'
    window = f"[{int(since_s) + 10}s]"
    seen: dict[str, float | None] = {}

    def moved() -> bool:
        seen["restarts"] = _value(settings, f"max_over_time(movieviews:restarts_total{job}{window})")
        seen["peak_age_s"] = _value(
            settings, f"max_over_time(movieviews:checkpoint_age_seconds{job}{window})"
        )
        seen["age_s"] = _value(settings, f"movieviews:checkpoint_age_seconds{job}")
        restarts, age = seen["restarts"], seen["age_s"]
        return bool(restarts and age is not None and age < STEADY_AGE_S)

    try:
        wait_until(moved, VISIBLE_WITHIN_S, "restarts and checkpoint age in Prometheus", interval_s=2)
    except NotReadyError:
        return False, f"prometheus figures did not move as expected: {seen}"
    peak = seen["peak_age_s"] or 0.0
    return True, f"prometheus saw {seen['restarts']:.0f} restart(s), checkpoint age peak {peak:.1f}s"


def restarts_moved_and_checkpoints_resumed_in_flink(settings: Settings, job_id: str) -> tuple[bool, str]:
    """The same two figures where no Prometheus runs (the cluster profile), from Flink's REST API as `status`
    reads them: the job's numRestarts went up, and a checkpoint completed after its restore."""
    seen: dict[str, float | None] = {}

    def moved() -> bool:
        try:
            seen["restarts"] = flinkrest.job_metrics(settings, job_id, ["numRestarts"]).get("numRestarts")
            latest = flinkrest.checkpoints(settings, job_id).get("latest") or {}
        except FlinkRestError:  # a JobManager busy restoring the job answers late: ask again
            return False
        seen["restored_ms"] = (latest.get("restored") or {}).get("restore_timestamp")
        seen["completed_ms"] = (latest.get("completed") or {}).get("latest_ack_timestamp")
        restored, completed = seen["restored_ms"], seen["completed_ms"]
        return bool(seen["restarts"] and restored and completed and completed > restored)

    try:
        wait_until(
            moved, VISIBLE_WITHIN_S, "restarts and a checkpoint after the restore in Flink", interval_s=2
        )
    except NotReadyError:
        return False, f"flink figures did not move as expected: {seen}"
    return True, f"flink saw {seen['restarts']:.0f} restart(s) and a checkpoint completed after the restore"
