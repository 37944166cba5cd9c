from __future__ import annotations

import argparse

from deploy import services
from deploy.cli import demo
from deploy.paths import StatePaths
from deploy.settings import Settings
from deploy.system import start_system


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack-only", action="store_true", help="Kafka, Flink and Postgres only")
    parser.add_argument("--demo", action="store_true", help="then run the demo (`movieviews demo`)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    paths = StatePaths(settings.home)
    services.of(settings).up(settings, paths, print)
    if args.stack_only:
        return 0

    start_system(settings, paths, print)
    if args.demo:
        demo.tour(settings)
    return 0
