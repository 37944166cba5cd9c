"""`movieviews bench NAME`: a module of this package per benchmark; its `add_arguments` sets its `run`.
`movieviews bench report` shows the newest figure of each as one table."""

from __future__ import annotations

import argparse
import importlib

from deploy.bench import report

# name -> (module with add_arguments/run, one-line help)
BENCHMARKS: dict[str, tuple[str, str]] = {
    "produce": ("deploy.bench.produce", "encode + produce: acknowledged events/s from one process"),
    "read": ("deploy.bench.read", "topMovies and movie(id) latency and req/s at 1, 10, 50 clients"),
    "write": (
        "deploy.bench.write",
        "recordView req/s and p50/p99 at 1, 10, 50 clients (GraphQL and REST), every ack checked in the log",
    ),
    "guard": (
        "deploy.bench.guard",
        "recordView with keys (vs an API without), reads under a 1,000-alias attack",
    ),
    "throughput": ("deploy.bench.throughput", "events/s to exact totals in Postgres, and vs a Flink SQL job"),
    "freshness": (
        "deploy.bench.freshness",
        "recordView acknowledged -> visible in topMovies, at 1k and 10k/s",
    ),
    "checkpoint-cost": ("deploy.bench.checkpoint_cost", "throughput with checkpoints every 1 s vs off"),
    "state-scale": ("deploy.bench.state_scale", "1M movies: checkpoint size and duration, RSS per process"),
    "rebuild": (
        "deploy.bench.rebuild",
        "movieviews rebuild over a pre-loaded log (default 5M): seconds to switched",
    ),
    "soak": (
        "deploy.bench.soak",
        "the live job's configuration at a steady rate: heap, RSS, state, checkpoints, lag, freshness flat",
    ),
    "live": ("deploy.bench.live", "topMoviesChanged fan-out: commit -> message at 100 / 1000 subscribers"),
}
REPORT = ("deploy.bench.current", "the newest run of each benchmark as one table (--markdown, --paste FILE)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    report.begin()
    sub = parser.add_subparsers(required=True, metavar="BENCHMARK")
    for name, (module, help_text) in {**BENCHMARKS, "report": REPORT}.items():
        importlib.import_module(module).add_arguments(sub.add_parser(name, help=help_text))
