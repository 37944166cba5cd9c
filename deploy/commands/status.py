from __future__ import annotations

import argparse

from deploy import stack
from deploy.commands.common import paths_of, report_errors
from deploy.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


@report_errors
def run(args: argparse.Namespace, settings: Settings) -> int:
    results = stack.status(settings)
    for health in results:
        print(f"{health.component:<9} {'healthy' if health.ok else 'UNHEALTHY':<10} {health.detail}")
    usage = stack.disk_usage(paths_of(settings))
    print("disk      " + ", ".join(f"{name} {size / 2**20:,.1f} MiB" for name, size in usage.items()))
    if not any(h.ok for h in results):
        print("nothing is running: start the stack with `deploy/movieviews up`")
    return 0 if all(h.ok for h in results) else 1
