"""Starting the stream job: on the standalone cluster through `flink run`, or embedded in a local process.
The script both run is `deploy.flink.jobscript`, given the `JobConfig` built here as arguments."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from deploy.errors import FlinkError, JarsMissingError
from deploy.flink.cluster import flink_cli, flink_env
from deploy.jars import connector_jars
from deploy.paths import StatePaths
from deploy.settings import Settings
from stream.config import DEFAULT_GROUP_ID, JOB_NAME, JobConfig
from stream.upsert import stats_table, trending_table

JOB_MODULE = "deploy.flink.jobscript"
# `flink run -d` returns once the JobManager accepts the graph; building it starts a JVM and Python: ~20 s
# on a quiet machine, over 180 s measured at load average 25 (six stacks on two cores).
SUBMIT_TIMEOUT_S = 420
# `flink stop` waits for the savepoint to complete; state is small, but a busy job may take a while to align.
STOP_TIMEOUT_S = 300
_JOB_ID = re.compile(r"JobID ([0-9a-f]{32})")
_SAVEPOINT = re.compile(r"Savepoint completed\. Path: (\S+)")
# The JobManager's words when a restore point holds state of an operator this job graph no longer has (seen
# on 30 Nov 2026: `up` on a stack whose savepoint the job before the trending-row change had taken).
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
    return settings.flink_rest.split("://", 1)[-1]


def submit(settings: Settings, config: JobConfig, restore_from: str | None = None) -> str:
    """Submits detached and returns the job id."""
    return submit_module(settings, JOB_MODULE, to_args(config), restore_from)


def submit_module(
    settings: Settings, module: str, args: Sequence[str], restore_from: str | None = None
) -> str:
    """Submits any job script of this repository (the stream job, the benchmark baseline) detached."""
    run = ["run", "-m", _jobmanager(settings), "-d"]
    if restore_from:
        run += ["-s", restore_from]
    try:
        output = flink_cli(StatePaths(settings.home), *run, "-pym", module, *args, timeout_s=SUBMIT_TIMEOUT_S)
    except FlinkError as error:
        if restore_from and _NOT_RESTORABLE in str(error):
            raise FlinkError(
                f"this version's job cannot restore {restore_from}: it was taken by a job graph with "
                "operators this one no longer has (the read model keeps its counts). The way across is a "
                "rebuild from the log: stream/DEDUP.md, 'Restoring across'."
            ) from error
        raise
    match = _JOB_ID.search(output)
    if match is None:
        raise FlinkError(f"`flink run` printed no JobID:\n{output[-2000:]}")
    return match.group(1)


def stop_with_savepoint(settings: Settings, job_id: str) -> str:
    target = StatePaths(settings.home).savepoints
    args = ["stop", "-m", _jobmanager(settings), "--savepointPath", str(target), job_id]
    output = flink_cli(StatePaths(settings.home), *args, timeout_s=STOP_TIMEOUT_S)
    match = _SAVEPOINT.search(output)
    if match is None:
        raise FlinkError(f"`flink stop` printed no savepoint path:\n{output[-2000:]}")
    return match.group(1)


def local_command(settings: Settings, config: JobConfig, restore_from: str | None = None) -> list[str]:
    jars = connector_jars(StatePaths(settings.home))
    if not jars:
        raise JarsMissingError(f"no connector jars in {StatePaths(settings.home).jars}")
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
