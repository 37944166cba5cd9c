from __future__ import annotations

import argparse

from deploy import stack
from deploy.paths import StatePaths
from deploy.settings import Settings
from deploy.system import stop_job


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    paths = StatePaths(settings.home)
    stop_job(settings, paths, print)
    stack.down(settings, paths, print)
    return 0
