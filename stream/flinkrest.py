"""The Flink REST client: every call to the JobManager's REST API (stack health, `up`/`down`, the job
commands, the API's pipeline probe, drills, benchmarks) goes through here, and so does what a job state means.
Anything with a `flink_rest` base URL (deploy's settings) will do."""

from __future__ import annotations

import functools
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from stream.config import slot_job_name
from stream.errors import FlinkRestError
from stream.taskmanager.metrics import DEAD_LETTER_METRIC
from stream.upsert import SLOTS

# The JobManager answers in milliseconds; a slow answer means it is busy restarting, worth a few seconds.
TIMEOUT_S = 10.0
# A health probe answers "not now" quickly instead: `status` checks every component in turn.
HEALTH_TIMEOUT_S = 3.0


class FlinkSettings(Protocol):
    @property
    def flink_rest(self) -> str: ...

    @property
    def flink_rest_identity(self) -> tuple[Path, Path, Path] | None: ...


@functools.cache
def _tls(identity: tuple[Path, Path, Path]) -> ssl.SSLContext:
    """A context that trusts only the CA and presents the certificate (Flink's REST SSL with mutual
    authentication refuses a client without one); made once per identity: the API's probe calls often."""
    ca, cert, key = identity
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(cert, key)
    return context


class JobState(StrEnum):
    """Flink's JobStatus, as the REST API spells it."""

    INITIALIZING = "INITIALIZING"
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    FAILING = "FAILING"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELED = "CANCELED"
    FINISHED = "FINISHED"
    RESTARTING = "RESTARTING"
    SUSPENDED = "SUSPENDED"
    RECONCILING = "RECONCILING"


# A job in one of these has not ended and is not ending: `up` must not submit it a second time, `down` and
# `job stop` stop it. (RESTARTING: a TaskManager died and the job comes back by itself from its checkpoint.)
ALIVE = frozenset({JobState.INITIALIZING, JobState.CREATED, JobState.RUNNING, JobState.RESTARTING})
# Flink's globally terminal states: the job will not run again and writes no checkpoint after.
ENDED = frozenset({JobState.FINISHED, JobState.CANCELED, JobState.FAILED})


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    name: str
    state: str

    @property
    def alive(self) -> bool:
        return self.state in ALIVE


def _call(settings: FlinkSettings, path: str, method: str = "GET", timeout_s: float = TIMEOUT_S) -> Any:
    request = urllib.request.Request(f"{settings.flink_rest}{path}", method=method)  # noqa: S310
    identity = settings.flink_rest_identity
    try:
        context = _tls(identity) if identity else None
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:  # noqa: S310
            body = response.read()
        return json.loads(body) if body else None
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise FlinkRestError(f"{method} {settings.flink_rest}{path} failed: {exc}") from exc


def overview(settings: FlinkSettings) -> dict[str, Any] | None:
    """The cluster's `/overview`, or None when the JobManager does not answer."""
    try:
        return dict(_call(settings, "/overview", timeout_s=HEALTH_TIMEOUT_S))
    except FlinkRestError:
        return None


def healthy(settings: FlinkSettings) -> tuple[bool, str]:
    info = overview(settings)
    if info is None:
        return False, f"GET {settings.flink_rest}/overview failed"
    tms, free = info.get("taskmanagers", 0), info.get("slots-available", 0)
    detail = (
        f"GET /overview: {tms} TaskManager(s), {free}/{info.get('slots-total', 0)} slots free, "
        f"{info.get('jobs-running', 0)} job(s) running"
    )
    return tms >= 1, detail


def jobs(settings: FlinkSettings) -> list[JobInfo]:
    overview = _call(settings, "/jobs/overview")
    return [JobInfo(job["jid"], job["name"], job["state"]) for job in overview["jobs"]]


def alive(settings: FlinkSettings, name: str) -> list[JobInfo]:
    return [job for job in jobs(settings) if job.name == name and job.alive]


def live(settings: FlinkSettings, base: str, current_slot: Callable[[], int]) -> JobInfo | None:
    """The live job of `base`: the alive job writing a read-model slot (`slot_job_name`). While a rebuild's
    job runs beside it, the one writing the slot readers read, asked of `current_slot` only then."""
    names = {slot_job_name(base, slot): slot for slot in SLOTS}
    found = [job for job in jobs(settings) if job.name in names and job.alive]
    if len(found) > 1:
        found = [job for job in found if names[job.name] == current_slot()]
    return found[0] if found else None


def job_state(settings: FlinkSettings, job_id: str) -> str:
    return str(_call(settings, f"/jobs/{job_id}")["state"])


def failures(settings: FlinkSettings, job_id: str) -> list[str]:
    """The stack trace of each failure of the job, oldest first (its exception history: a restarted job's
    too, and a finished job's while the JobManager keeps it)."""
    entries = _call(settings, f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"]
    return [str(entry["stacktrace"]) for entry in sorted(entries, key=lambda entry: entry["timestamp"])]


def cancel(settings: FlinkSettings, job_id: str) -> None:
    _call(settings, f"/jobs/{job_id}?mode=cancel", method="PATCH")


def dead_letters(settings: FlinkSettings, job_id: str) -> int:
    """Sum of the dead-letter counters (every reason) over the job's subtasks (`taskmanager.metrics`)."""
    total = 0
    for vertex in _call(settings, f"/jobs/{job_id}")["vertices"]:
        base = f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics"
        names = [m["id"] for m in _call(settings, base) if m["id"].endswith(DEAD_LETTER_METRIC)]
        if names:
            values = _call(settings, f"{base}?get={','.join(names)}&agg=sum")
            total += sum(int(float(v["sum"])) for v in values)
    return total


def tasks_running(settings: FlinkSettings, job_id: str) -> bool:
    """Every vertex RUNNING: sources are reading and the operators' `open()` (Python start-up) is done."""
    vertices = _call(settings, f"/jobs/{job_id}")["vertices"]
    return bool(vertices) and all(vertex["status"] == "RUNNING" for vertex in vertices)


def restored_since(settings: FlinkSettings, job_id: str, epoch_ms: float) -> bool:
    """The job restored from a checkpoint at or after `epoch_ms` (after a TaskManager was lost, say)."""
    restored = checkpoints(settings, job_id).get("latest", {}).get("restored")
    return bool(restored and restored["restore_timestamp"] >= epoch_ms)


def checkpoints(settings: FlinkSettings, job_id: str) -> dict[str, Any]:
    """`/jobs/<id>/checkpoints`: counts, the latest completed one, and min/avg/max of size and duration."""
    return dict(_call(settings, f"/jobs/{job_id}/checkpoints"))


@dataclass(frozen=True)
class CompletedCheckpoint:
    age_s: float  # now minus its last acknowledgement
    duration_s: float  # end to end
    state_bytes: int  # the whole state it holds (files shared with earlier incremental checkpoints included)


def last_completed(checkpoints: dict[str, Any]) -> CompletedCheckpoint | None:
    """The latest completed checkpoint of a `checkpoints()` answer; None before the first."""
    completed = (checkpoints.get("latest") or {}).get("completed")
    if not completed:
        return None
    age_s = time.time() - completed["latest_ack_timestamp"] / 1000
    return CompletedCheckpoint(age_s, completed["end_to_end_duration"] / 1000, int(completed["state_size"]))


def vertex_metrics(settings: FlinkSettings, job_id: str, names: list[str]) -> dict[str, dict[str, float]]:
    """Per vertex name, the max over its subtasks of each metric (busyTimeMsPerSecond, backPressured...)."""
    out: dict[str, dict[str, float]] = {}
    for vertex in _call(settings, f"/jobs/{job_id}")["vertices"]:
        base = f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics"
        values = _call(settings, f"{base}?get={','.join(names)}&agg=max")
        out[vertex["name"]] = {v["id"]: float(v["max"]) for v in values if v.get("max") is not None}
    return out


def job_metrics(settings: FlinkSettings, job_id: str, names: list[str]) -> dict[str, float]:
    """Job-level metrics of the JobManager (numRestarts, lastCompletedCheckpointId...)."""
    values = _call(settings, f"/jobs/{job_id}/metrics?get={','.join(names)}")
    return {v["id"]: float(v["value"]) for v in values}


def restarts(settings: FlinkSettings, job_id: str) -> int:
    """Times Flink restarted the job since it was submitted (its `numRestarts`; it only rises)."""
    return int(job_metrics(settings, job_id, ["numRestarts"]).get("numRestarts", 0))


def source_offsets(settings: FlinkSettings, job_id: str) -> dict[tuple[str, int], int]:
    """The Kafka source's position per (topic, partition): its `currentOffset` metric, the offset of the last
    record it read (not the committed offset, which moves only with checkpoints)."""
    offsets: dict[tuple[str, int], int] = {}
    for vertex in _call(settings, f"/jobs/{job_id}")["vertices"]:
        base = f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics"
        names = [m["id"] for m in _call(settings, base) if m["id"].endswith(CURRENT_OFFSET)]
        if not names:
            continue
        for value in _call(settings, f"{base}?get={','.join(names)}&agg=max"):
            # <operator>.KafkaSourceReader.topic.<topic>.partition.<n>.currentOffset
            scope = value["id"].split(".KafkaSourceReader.topic.", 1)[1]
            topic, partition = scope.removesuffix(CURRENT_OFFSET).rsplit(".partition.", 1)
            offsets[(topic, int(partition))] = int(float(value["max"]))
    return offsets


CURRENT_OFFSET = ".currentOffset"


# RocksDB's native metrics, one gauge per column family (a state of an operator), enabled by
# `stream.topology.ROCKSDB`: `<operator>.<state>.rocksdb_<property>` through REST (`Deduplicate[4].
# deduplicate-state.rocksdb_estimate-num-keys`, `movie-stats.minutes.rocksdb_total-sst-files-size`). Flink
# SQL's deduplication keeps its remembered ids in the state named below. The hashmap backend has none.
ESTIMATE_NUM_KEYS = "rocksdb_estimate-num-keys"
SST_FILES_SIZE = "rocksdb_total-sst-files-size"
DEDUP_STATE = "deduplicate-state"


@dataclass(frozen=True)
class StateFigures:
    """Per state (summed over the operators and subtasks that have one of that name): RocksDB's estimate of
    its entries (expired ones not yet compacted away count too) and the size of its files on local disk."""

    keys: dict[str, int]
    disk_bytes: dict[str, int]

    @property
    def remembered_ids(self) -> int | None:
        return self.keys.get(DEDUP_STATE)

    @property
    def total_disk_bytes(self) -> int | None:
        return sum(self.disk_bytes.values()) if self.disk_bytes else None


def state_figures(settings: FlinkSettings, job_id: str) -> StateFigures:
    return StateFigures(
        _per_state(operator_metric_sums(settings, job_id, ESTIMATE_NUM_KEYS), ESTIMATE_NUM_KEYS),
        _per_state(operator_metric_sums(settings, job_id, SST_FILES_SIZE), SST_FILES_SIZE),
    )


def _per_state(values: dict[str, float], suffix: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in values.items():
        state = name.removesuffix(f".{suffix}").rsplit(".", 1)[-1]
        out[state] = out.get(state, 0) + int(value)
    return out


def operator_metric_sums(settings: FlinkSettings, job_id: str, suffix: str) -> dict[str, float]:
    """Every operator metric of the job whose name ends with `suffix`, each summed over its subtasks."""
    out: dict[str, float] = {}
    for vertex in _call(settings, f"/jobs/{job_id}")["vertices"]:
        base = f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics"
        names = [m["id"] for m in _call(settings, base) if m["id"].endswith(suffix)]
        if names:
            for value in _call(settings, f"{base}?get={','.join(names)}&agg=sum"):
                out[value["id"]] = float(value["sum"])
    return out
