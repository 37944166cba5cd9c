"""Starting the stream job: on the standalone cluster through `flink run`, or embedded in a local process.
The script both run is `deploy.flink.jobscript`, given the `JobConfig` built here as arguments."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path

from deploy import progress, services
from deploy.errors import DeployError, FlinkError, JarsMissingError
from deploy.flink.standalone import flink_cli, flink_env
from deploy.jars import connector_jars, stream_jar
from deploy.paths import StatePaths
from deploy.settings import Settings
from deploy.wait import wait_until
from stream import flinkrest
from stream.config import DEFAULT_GROUP_ID, JOB_NAME, JobConfig
from stream.errors import FlinkRestError
from stream.upsert import stats_table, trending_table

JOB_MODULE = "deploy.flink.jobscript"
# `flink run -d` returns once the JobManager accepts the graph; building it starts a JVM and Python: ~20 s
# on a quiet machine, over 180 s measured at load average 25 (six stacks on two cores).
SUBMIT_TIMEOUT_S = 420
# `flink stop` waits for the savepoint to complete; state is small, but a busy job may take a while to align.
STOP_TIMEOUT_S = 300
# A job that is starting or restarting cannot take a savepoint: Flink refuses with "Not all required tasks
# are currently running": a TaskManager whose heartbeat timed out restarts every job on it (a rebuild's two
# jobs at millions of events), and a job stopped right after its submission may have a task not yet running.
# Its restart strategy waits 1-30 s and Python start-up takes ~20 s on a quiet machine, minutes at load: a
# few restarts fit.
STOP_RETRY_S = 600
# How often a stop polls the job's tasks: a few REST calls.
POLL_S = 1.0
# A cancel ends a job in seconds, even one restarting: its tasks are cancelled, not asked to finish anything.
CANCEL_TIMEOUT_S = 60
_JOB_ID = re.compile(r"JobID ([0-9a-f]{32})")
_SAVEPOINT = re.compile(r"Savepoint completed\. Path: (\S+)")
# The JobManager's words when a restore point holds state of an operator this job graph no longer has (every
# change docs/UPGRADING.md lists as not restoring).
_NOT_RESTORABLE = "Cannot map checkpoint/savepoint state"


def job_config(
    settings: Settings,
    name: str = JOB_NAME,
    group_id: str = DEFAULT_GROUP_ID,
    parallelism: int | None = None,
    checkpoint_interval_ms: int | None = None,
    dedup_window_s: int | None = None,
    trending: bool = True,
    slot: int = 1,
    state_backend: str | None = None,
) -> JobConfig:
    return JobConfig(
        name=name,
        bootstrap=settings.kafka_bootstrap,
        kafka_secrets=str(settings.kafka_secrets_dir) if settings.kafka_security else "",
        views_topic=settings.views_topic,
        movies_topic=settings.movies_topic,
        dlq_topic=settings.dlq_topic,
        schemas_topic=settings.schemas_topic,
        group_id=group_id,
        jdbc_url=settings.writer_jdbc_url,
        parallelism=settings.job_parallelism if parallelism is None else parallelism,
        checkpoint_interval_ms=(
            settings.checkpoint_interval_ms if checkpoint_interval_ms is None else checkpoint_interval_ms
        ),
        flush_interval_ms=settings.flush_interval_ms,
        checkpoint_dir=StatePaths(settings.home).checkpoints.as_uri(),
        dedup_window_s=settings.dedup_window_s if dedup_window_s is None else dedup_window_s,
        trending=int(trending),
        stats_table=stats_table(slot),
        trending_table=trending_table(slot),
        state_backend=settings.state_backend if state_backend is None else state_backend,
    )


def to_args(config: JobConfig) -> list[str]:
    args: list[str] = []
    for field in fields(config):
        args += [f"--{field.name.replace('_', '-')}", str(getattr(config, field.name))]
    return args


def _jobmanager(settings: Settings) -> str:
    """`flink -m`'s address: host:port speaks plain HTTP whatever the configuration says, so an https://
    REST API (mutual TLS, deploy/flink/standalone.py) is named with its scheme."""
    return settings.flink_rest if settings.flink_rest_identity else settings.flink_rest.split("://", 1)[-1]


def submit(settings: Settings, config: JobConfig, restore_from: str | None = None) -> str:
    """Submits detached and returns the job id. The job adds its jars itself (`pipeline.jars`, uploaded
    with the job graph): its own, and the connectors when Flink is not the project's."""
    paths = StatePaths(settings.home)
    args = [*to_args(config)]
    for jar in [stream_jar(paths), *services.of(settings).shipment(paths).jars]:
        args += ["--jar", str(jar)]
    return submit_module(settings, JOB_MODULE, args, restore_from)


def submit_module(
    settings: Settings, module: str, args: Sequence[str], restore_from: str | None = None
) -> str:
    """Submits any job script of this repository (the stream job, the benchmark baseline) detached."""
    run = ["run", "-m", _jobmanager(settings), "-d"]
    python = services.of(settings).shipment(StatePaths(settings.home)).python
    if python:
        run += ["-pyfs", ",".join(map(str, python))]
    if restore_from:
        run += ["-s", restore_from]
    try:
        with progress.working("submitting the job (`flink run`)", say=lambda _line: None):
            output = _run_once_more_if_lost(
                lambda: flink_cli(
                    StatePaths(settings.home), *run, "-pym", module, *args, timeout_s=SUBMIT_TIMEOUT_S
                )
            )
    except FlinkError as error:
        if restore_from and _NOT_RESTORABLE in str(error):
            raise FlinkError(
                f"this version's job cannot restore {restore_from}: it was taken by a job graph with "
                "operators this one no longer has (the read model keeps its counts). The way across is a "
                "rebuild from the log: docs/UPGRADING.md."
            ) from error
        raise
    match = _JOB_ID.search(output)
    if match is None:
        raise FlinkError(f"`flink run` printed no JobID:\n{output[-2000:]}")
    return match.group(1)


# The client's wait for a submitted job's initialisation can meet a dispatcher that no longer knows the job:
# the job was never admitted, so nothing of it runs, and the submission is made again, once.
_LOST_AT_SUBMISSION = "FlinkJobNotFoundException"


def _run_once_more_if_lost(submission: Callable[[], str]) -> str:
    try:
        return submission()
    except FlinkError as error:
        if _LOST_AT_SUBMISSION not in str(error):
            raise
    return submission()


def _flink_stop(settings: Settings, job_id: str, timeout_s: float = STOP_TIMEOUT_S) -> str:
    target = StatePaths(settings.home).savepoints
    args = ["stop", "-m", _jobmanager(settings), "--savepointPath", str(target), job_id]
    output = flink_cli(StatePaths(settings.home), *args, timeout_s=timeout_s)
    match = _SAVEPOINT.search(output)
    if match is None:
        raise FlinkError(f"`flink stop` printed no savepoint path:\n{output[-2000:]}")
    return match.group(1)


def end(settings: Settings, job_id: str, timeout_s: float = 60) -> None:
    """Cancels the job unless it has ended, and waits until it has: an ended job writes no checkpoint after,
    so its retained ones can be restored from or removed."""

    def ended() -> bool:
        return flinkrest.job_state(settings, job_id) in flinkrest.ENDED

    if not ended():
        flinkrest.cancel(settings, job_id)
        wait_until(ended, timeout_s, f"job {job_id} ended")


def _all_running(settings: Settings, job_id: str) -> bool:
    try:
        return flinkrest.tasks_running(settings, job_id)
    except FlinkRestError:  # a JobManager busy restarting jobs answers late: ask again at the next poll
        return False


def _ended(settings: Settings, job_id: str) -> bool:
    try:
        return flinkrest.job_state(settings, job_id) in flinkrest.ENDED
    except FlinkRestError:
        return False


def final_savepoint(settings: Settings, job_id: str, name: str) -> str | None:
    """The savepoint an ended job stopped with (one `flink stop` gave up waiting for); None while it runs."""
    if not _ended(settings, job_id):
        return None
    taken = (flinkrest.checkpoints(settings, job_id).get("latest") or {}).get("savepoint")
    if not taken:
        raise FlinkError(f"{name} ended without a savepoint: `movieviews up` resumes it")
    return str(taken["external_path"])


def stop_with_savepoint(
    settings: Settings,
    job_id: str,
    name: str = "the job",
    say: Callable[[str], None] = lambda _line: None,
    timeout_s: float | None = None,
) -> str:
    """Stops the job with a savepoint once all its tasks run; a refused stop is retried until `timeout_s`
    (default STOP_RETRY_S), and `flink stop` itself is given no more than what is left of it. A stop whose
    savepoint completes after `flink stop` gave up (measured: 88 s at load 40) counts."""
    deadline = time.monotonic() + (STOP_RETRY_S if timeout_s is None else timeout_s)
    while True:
        wait_until(
            lambda: _all_running(settings, job_id) or _ended(settings, job_id),
            max(deadline - time.monotonic(), 0),
            f"every task of {name} running",
            POLL_S,
        )
        taken = final_savepoint(settings, job_id, name)
        if taken is not None:
            say(f"{name} stopped with savepoint {taken} after `flink stop` gave up waiting")
            return taken
        try:
            return _flink_stop(settings, job_id, min(STOP_TIMEOUT_S, max(deadline - time.monotonic(), 1)))
        except FlinkError as exc:
            reason = str(exc).strip().splitlines()[-1][-300:]
            if time.monotonic() >= deadline:
                raise FlinkError(f"{name} did not stop with a savepoint: {reason}") from exc
            say(f"{name}: stop-with-savepoint refused ({reason}); retrying once all its tasks run again")


def stop_within(
    settings: Settings, job_id: str, name: str, say: Callable[[str], None], timeout_s: float
) -> str | None:
    """Stops the job in bounded time: with a savepoint if Flink takes one within `timeout_s`, else cancelled
    (a job restarting in a loop never has all its tasks running, so Flink refuses every savepoint). Its
    retained checkpoints survive the cancel (RETAIN_ON_CANCELLATION). Returns the savepoint, None when
    cancelled."""
    try:
        with progress.working(f"stopping {name} with a savepoint (up to {timeout_s:.0f} s)", say=say):
            savepoint = stop_with_savepoint(settings, job_id, name, say, timeout_s)
        # `flink stop` returns once the savepoint is written and the job reaches FINISHED a moment later:
        # what follows (stopping its TaskManager, a resubmission from the savepoint) waits for that.
        wait_until(lambda: _ended(settings, job_id), CANCEL_TIMEOUT_S, f"{name} finished", POLL_S)
        return savepoint
    # Refused until the deadline (FlinkError), never all running (NotReadyError), the JobManager silent.
    except (DeployError, FlinkRestError) as exc:
        reason = str(exc).strip().splitlines()[-1][-300:]
    say(f"{reason}; cancelling {name} (its retained checkpoints stay)...")
    with contextlib.suppress(FlinkRestError):  # it may have ended by itself since: its state says
        flinkrest.cancel(settings, job_id)
    with progress.working(f"waiting for {name} to end", say=lambda _line: None):
        wait_until(lambda: _ended(settings, job_id), CANCEL_TIMEOUT_S, f"{name} cancelled", POLL_S)
    # A savepoint that completed just as the deadline passed ended the job (FINISHED): that one counts.
    if flinkrest.job_state(settings, job_id) == flinkrest.JobState.FINISHED:
        return final_savepoint(settings, job_id, name)
    return None


def local_command(settings: Settings, config: JobConfig, restore_from: str | None = None) -> list[str]:
    paths = StatePaths(settings.home)
    jars = connector_jars(paths)
    if not jars:
        raise JarsMissingError(f"no connector jars in {paths.jars}")
    jars.append(stream_jar(paths))
    argv = [sys.executable, "-m", JOB_MODULE, *to_args(config)]
    for jar in jars:
        argv += ["--jar", str(jar)]
    if restore_from:
        argv += ["--from", restore_from]
    return argv


def start_local(
    settings: Settings, config: JobConfig, restore_from: str | None, log: Path
) -> subprocess.Popen[bytes]:
    """Runs the job embedded (a MiniCluster in a child process), until stopped."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            local_command(settings, config, restore_from),
            env=flink_env(StatePaths(settings.home)),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
