from __future__ import annotations

import argparse

from deploy import services
from deploy.paths import StatePaths
from deploy.settings import Settings
from deploy.system import stop_job
from ground import MovieviewsError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Stops the job (bounded: `stop_job`), then every process whatever became of the job; a job that could
    not be stopped is reported and makes the exit code 1, after the processes are stopped."""
    paths = StatePaths(settings.home)
    failed = None
    try:
        stop_job(settings, paths, print)
    except MovieviewsError as exc:
        failed = exc
        print("the stream job did not stop: stopping the processes all the same")
    services.of(settings).down(settings, paths, print)
    if failed is not None:
        raise failed
    return 0
