"""`movieviews bench checkpoint-cost`: the throughput run twice over one pre-loaded log, checkpoints every
second and checkpointing off; the cost is how much slower the first is."""

from __future__ import annotations

import argparse
from typing import Any

from deploy.bench import report
from deploy.bench.scratch import preload, project_job, reset_read_model, timed_job
from deploy.bench.throughput import row
from deploy.drills.harness import DrillEnv
from deploy.settings import Settings

INTERVAL_MS = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=2_000_000, help="views to pre-load (default 2M)")
    parser.add_argument("--movies", type=int, default=1000, help="distinct movies (default 1000)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    results = bench_checkpoint_cost(settings, args.events, args.movies)
    print(report.table(results["rows"]))
    ratio, cost = results["ratio_on_to_off"], results["cost_percent"]
    print(f"checkpoints every {INTERVAL_MS} ms / off: {ratio:.2f}x, cost {cost:.1f}% (below 0: noise)")
    path = report.write(settings, "checkpoint-cost", results)
    print(f"load average {report.load_average()}; written to {path}")
    return 0


def bench_checkpoint_cost(settings: Settings, events: int, movies: int) -> dict[str, Any]:
    with DrillEnv(settings, "bench-checkpoint-cost") as env:
        load = preload(env, events, movies)
        on = timed_job(env, load, project_job(env, "checkpoints-1s", checkpoint_interval_ms=INTERVAL_MS))
        reset_read_model(env)
        off = timed_job(env, load, project_job(env, "checkpoints-off", checkpoint_interval_ms=0))
    return {
        "events": load.events,
        "interval_ms": INTERVAL_MS,
        "rows": [row("checkpoints every 1 s", on), row("checkpoints off", off)],
        "ratio_on_to_off": on.events_per_s / off.events_per_s,
        "cost_percent": (1 - on.events_per_s / off.events_per_s) * 100,
    }
