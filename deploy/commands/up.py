from __future__ import annotations

import argparse

from deploy import stack
from deploy.commands.common import paths_of, report_errors
from deploy.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack-only", action="store_true", help="Kafka, Flink and Postgres only")
    parser.add_argument("--demo", action="store_true", help="then run the demo (`movieviews demo`)")


@report_errors
def run(args: argparse.Namespace, settings: Settings) -> int:
    paths = paths_of(settings)
    stack.up(settings, paths, print)
    if args.stack_only:
        return 0
    from deploy.system import start_system

    start_system(settings, paths, print)
    if args.demo:
        from deploy.commands import demo

        return demo.run(argparse.Namespace(command="demo", rounds=3, views=10), settings)
    return 0
