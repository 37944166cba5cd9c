"""The stream job's script: `flink run -pym deploy.flink.jobscript -- <JobConfig args>` on the cluster, or
`python -m deploy.flink.jobscript ... --jar J [--from PATH]` for `movieviews job run-local`.

An entry point, so it builds the settings: the writer password comes from the environment and the Kafka
password from the secrets directory the arguments name, never the command line (the web UI shows a job's
arguments). Everything else arrives as arguments, built by `deploy.flink.jobs`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from deploy.settings import Settings
from ground.kafka import JOB, Credentials, KafkaAccess
from stream.config import JobConfig
from stream.job import run


def from_args(argv: Sequence[str]) -> tuple[JobConfig, argparse.Namespace]:
    """Returns the config and the remaining launcher options (`--jar`, `--from`)."""
    parser = argparse.ArgumentParser(prog="deploy.flink.jobscript")
    for field in fields(JobConfig):
        kind = int if field.type == "int" else str
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, required=True)
    parser.add_argument("--jar", action="append", default=[], help="jar to add to the job")
    parser.add_argument("--from", dest="restore", help="checkpoint or savepoint to restore (local runs)")
    args = parser.parse_args(argv)
    config = JobConfig(**{field.name: getattr(args, field.name) for field in fields(JobConfig)})
    return config, args


def main(argv: Sequence[str]) -> None:
    config, extra = from_args(argv)
    secrets = Path(config.kafka_secrets)
    kafka = KafkaAccess(config.bootstrap, Credentials.load(secrets, JOB) if config.kafka_secrets else None)
    run(config, Settings.from_env(os.environ).pg_writer_password, kafka, extra.restore, extra.jar)


if __name__ == "__main__":
    main(sys.argv[1:])
