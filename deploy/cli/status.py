from __future__ import annotations

import argparse
import dataclasses
import json

from deploy import runbooks, services, stack, status_verdict
from deploy.paths import StatePaths
from deploy.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    paths = StatePaths(settings.home)
    running = services.of(settings)
    results = running.status(settings)
    nothing_running = not any(h.ok for h in results)
    if not nothing_running:
        results += [status_verdict.api_health(settings), status_verdict.job_health(settings)]
    results.append(running.processes(paths))
    unhealthy = [h.component for h in results if not h.ok]
    usage = stack.disk_usage(paths)
    if args.json:
        components = [{**dataclasses.asdict(h), "runbook": runbooks.hint(h)} for h in results]
        print(json.dumps({"ok": not unhealthy, "components": components, "disk_bytes": usage}))
        return 1 if unhealthy else 0
    for health in results:
        print(f"{health.component:<10} {'healthy' if health.ok else 'UNHEALTHY':<10} {health.detail}")
        hint = None if nothing_running else runbooks.hint(health)
        if hint:
            print(f"{'':<10} runbook: {hint}")
    for name, program in results[-1].figures.items():
        print(f"  {name:<18} {program['state']:<9} restarts {program['restarts']}  {program['detail']}")
    print("disk       " + ", ".join(f"{name} {size / 2**20:,.1f} MiB" for name, size in usage.items()))
    if nothing_running:
        print("nothing is running: start the stack with `deploy/movieviews up`")
    elif unhealthy:
        print(f"unhealthy: {', '.join(unhealthy)}")
    return 1 if unhealthy else 0
