from __future__ import annotations

import argparse

from deploy.commands.common import paths_of
from deploy.settings import Settings

COMPONENTS = ("kafka", "flink-jobmanager", "flink-taskmanager", "api", "prometheus")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tail", type=int, default=0, metavar="N", help="also print each log's last N lines")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from deploy import postgres, procs

    paths = paths_of(settings)
    logs = {component: paths.log_file(component) for component in COMPONENTS}
    logs["postgres"] = postgres.log_path(paths)
    for component, log in logs.items():
        print(f"{component:<18} {log}{'' if log.exists() else '  (not written yet)'}")
        if args.tail and log.exists():
            print(procs.tail(log, args.tail))
    print(f"{'flink (log4j)':<18} {paths.logs}/flink-*.log")
    return 0
