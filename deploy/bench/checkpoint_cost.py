"""`movieviews bench checkpoint-cost`: the throughput run twice over one pre-loaded log, checkpoints every
second and checkpointing off; the cost is how much slower the first is."""

from __future__ import annotations

import argparse

from deploy.bench import report
from deploy.bench.scratch import preload, project_job, reset_read_model, timed_job
from deploy.bench.throughput import row
from deploy.sandbox import Sandbox
from deploy.settings import Settings

INTERVAL_MS = 1000
TARGETS = (report.Target("cost_percent", 10.0, at_most=True),)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=2_000_000, help="views to pre-load (default 2M)")
    parser.add_argument("--movies", type=int, default=1000, help="distinct movies (default 1000)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    report.publish(settings, bench_checkpoint_cost(settings, args.events, args.movies))
    return 0


def bench_checkpoint_cost(settings: Settings, events: int, movies: int) -> report.Result:
    with Sandbox(settings, "bench-checkpoint-cost") as env:
        load = preload(env, events, movies)
        on = timed_job(env, load, project_job(env, "checkpoints-1s", checkpoint_interval_ms=INTERVAL_MS))
        reset_read_model(env)
        off = timed_job(env, load, project_job(env, "checkpoints-off", checkpoint_interval_ms=0))
    # Below 0 is noise: checkpoints cannot make the job faster.
    cost_percent = (1 - on.events_per_s / off.events_per_s) * 100
    return report.Result(
        "checkpoint-cost",
        {"events": load.events, "movies": movies, "interval_ms": INTERVAL_MS},
        [row("checkpoints every 1 s", on), row("checkpoints off", off)],
        {
            "on/off": on.events_per_s / off.events_per_s,
            "cost_percent": cost_percent,
            "targets": report.against(TARGETS, {"cost_percent": cost_percent}),
        },
    )
