"""The job script: `flink run -py stream/job.py -- <JobConfig args>` on the cluster, or run by `movieviews job
run-local` with the connector jars and an optional `--from` checkpoint."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import cloudpickle
from pyflink.datastream import StreamExecutionEnvironment

import stream
from deploy.settings import Settings
from stream.config import JobConfig
from stream.topology import build, job_configuration


def main(argv: Sequence[str]) -> None:
    config, extra = JobConfig.from_args(argv)
    # The job's Python functions travel with the job, by value: in thread mode every job on a TaskManager
    # shares one interpreter, whose `sys.modules` keeps the `stream` modules of the first job that imported
    # them, so a resubmitted job would otherwise run stale code (or fail to find a new class). Caveat:
    # `dataclasses.fields()`/`asdict()` see no fields on a by-value dataclass under cloudpickle 2.2.
    cloudpickle.register_pickle_by_value(stream)
    # The writer password comes from the environment, never the command line (it would show in the web UI).
    password = Settings.from_env(os.environ).pg_writer_password
    env = StreamExecutionEnvironment.get_execution_environment(job_configuration(config, extra.restore))
    if extra.jar:
        env.add_jars(*(Path(jar).resolve().as_uri() for jar in extra.jar))
    build(env, config, password)
    env.execute(config.name)


if __name__ == "__main__":
    main(sys.argv[1:])
