"""Runs the job: builds the graph and executes it. Its entry point, the script `flink run` starts (or
`movieviews job run-local`), is `deploy.flink.jobscript`: it passes the configuration and the writer
password."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cloudpickle
from pyflink.datastream import StreamExecutionEnvironment

import ground
import ingest
import schemas
import stream
from ground.kafka import KafkaAccess
from stream.config import JobConfig
from stream.topology import build, job_configuration

# Every first-party package the job's functions import, directly or not (import-linter keeps `readmodel` and
# `deploy` out of them).
SHIPPED = (ground, schemas, ingest, stream)


def run(
    config: JobConfig,
    pg_password: str,
    kafka: KafkaAccess,
    restore_from: str | None,
    jars: Sequence[str] = (),
) -> None:
    # The job's Python functions travel with the job, by value, and so does every first-party module they
    # reach (`SHIPPED`): in thread mode every job on a TaskManager shares one interpreter, whose
    # `sys.modules` keeps the modules of the first job that imported them, so a job resubmitted after an
    # upgrade would otherwise run stale code or fail to find a new class (`Can't get attribute ...`) and
    # restart for ever. Caveat: `dataclasses.fields()`/`asdict()` see no fields on a by-value dataclass
    # under cloudpickle 2.2.
    for package in SHIPPED:
        cloudpickle.register_pickle_by_value(package)
    env = StreamExecutionEnvironment.get_execution_environment(job_configuration(config, restore_from))
    if jars:
        env.add_jars(*(Path(jar).resolve().as_uri() for jar in jars))
    build(env, config, pg_password, kafka)
    env.execute(config.name)
