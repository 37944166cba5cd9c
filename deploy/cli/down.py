from __future__ import annotations

import argparse

from deploy import stack
from deploy.cli.common import paths_of, report_errors
from deploy.settings import Settings
from deploy.system import stop_job


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


@report_errors
def run(args: argparse.Namespace, settings: Settings) -> int:
    paths = paths_of(settings)
    stop_job(settings, paths, print)
    stack.down(settings, paths, print)
    return 0
