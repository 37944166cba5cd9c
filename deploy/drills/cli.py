"""`movieviews drill NAME|all`: run drills against the running stack and print a pass/fail report."""

from __future__ import annotations

import argparse
import json
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from deploy import services
from deploy.drills.registry import CLUSTER_DRILLS, DRILLS, STOP_SERVICES, drills
from deploy.drills.steps import HEADER, DrillReport
from deploy.errors import UsageError
from deploy.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    names = dict.fromkeys([*DRILLS, *CLUSTER_DRILLS, "all"])
    parser.add_argument(
        "name", nargs="+", choices=list(names), help="one or more drills, or all (of the profile's)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    parser.set_defaults(run=run)


def _without_stops(names: list[str], everything: bool) -> list[str]:
    """With services the project does not run, a drill that stops one of them is refused (`all` says which
    it leaves out)."""
    stopping = [name for name in names if name in STOP_SERVICES]
    if stopping and not everything:
        raise UsageError(
            f"drill {', '.join(stopping)} stops or kills a process of Kafka, Flink or Postgres: it needs "
            "services the project runs (MOVIEVIEWS_MANAGED=on)"
        )
    if stopping:
        print(f"left out (they stop services the project does not run): {', '.join(stopping)}")
    return [name for name in names if name not in STOP_SERVICES]


def run(args: argparse.Namespace, settings: Settings) -> int:
    available = drills(settings.clustered)
    names = list(available) if "all" in args.name else args.name
    if unknown := [name for name in names if name not in available]:
        raise UsageError(f"not a drill of the {settings.profile} profile: {', '.join(unknown)}")
    if not services.of(settings).owns_processes:
        names = _without_stops(names, "all" in args.name)
    reports = []
    for name in names:
        print(f"== drill {name}", flush=True)
        started = time.monotonic()
        try:
            report = available[name](settings)
        except Exception as exc:
            traceback.print_exc()
            report = DrillReport(name, False, time.monotonic() - started, notes=[f"error: {exc}"])
        reports.append(report)
        print(HEADER)
        print(report.as_row())
        for note in report.notes:
            print(f"   {note}")
    print("\n" + HEADER)
    for report in reports:
        print(report.as_row())
    passed = sum(r.passed for r in reports)
    print(f"drills: {passed} passed, {len(reports) - passed} failed")
    path = args.json or settings.home / "drills" / f"drills-{int(time.time())}.json"

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps([asdict(r) for r in reports], indent=1))
    return 0 if passed == len(reports) else 1
