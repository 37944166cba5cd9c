from __future__ import annotations

import argparse

from deploy import procs, stack, supervisor
from deploy.paths import StatePaths
from deploy.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tail", type=int, default=0, metavar="N", help="also print each log's last N lines")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    paths = StatePaths(settings.home)
    # Each supervised program's output, then the supervisor's own log (every start, exit and restart).
    names = [program.name for program in stack.programs(settings, paths)] + [supervisor.NAME]
    for component in names:
        log = paths.log_file(component)
        print(f"{component:<18} {log}{'' if log.exists() else '  (not written yet)'}")
        if args.tail and log.exists():
            print(procs.tail(log, args.tail))
    print(f"{'restarts':<18} {supervisor.restart_log(paths)}")
    print(f"{'flink (log4j)':<18} {paths.logs}/flink-*.log")
    return 0
