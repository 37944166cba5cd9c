"""`movieviews bench throughput`: pre-load the views topic, run the job from the earliest offset, time until
Postgres holds the exact per-movie totals; then the Flink SQL baseline on the same log."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import psycopg

from deploy.bench import report
from deploy.bench.scratch import JobRun, preload, project_job, timed_job
from deploy.drills.harness import DrillEnv
from deploy.settings import Settings
from stream import baseline, launch

DEFAULT_EVENTS = 5_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="views to pre-load (default 5M)")
    parser.add_argument("--movies", type=int, default=1000, help="distinct movies (default 1000)")
    parser.add_argument("--parallelism", type=int, default=1, help="of both jobs (default 1)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the Flink SQL baseline run")


def run(args: argparse.Namespace, settings: Settings) -> int:
    results = bench_throughput(settings, args.events, args.movies, args.parallelism, not args.no_baseline)
    print(report.table(results["rows"]))
    if "ratio" in results:
        print(f"project / baseline: {results['ratio']:.2f}x")
    print(f"load average {report.load_average()}; written to {report.write(settings, 'throughput', results)}")
    return 0


def bench_throughput(
    settings: Settings, events: int, movies: int, parallelism: int = 1, with_baseline: bool = True
) -> dict[str, Any]:
    with DrillEnv(settings, "bench-throughput") as env:
        load = preload(env, events, movies)
        runs = {"project": timed_job(env, load, project_job(env, "project", parallelism))}
        if with_baseline:
            runs["flink-sql baseline"] = timed_job(
                env, load, _baseline_job(env, parallelism), table=baseline.TABLE
            )
    results: dict[str, Any] = {
        "events": load.events,
        "movies": len(load.truth),
        "preload_events_per_s": round(load.events / load.seconds),
        "parallelism": parallelism,
        "rows": [row(name, run) for name, run in runs.items()],
    }
    if with_baseline:
        results["ratio"] = runs["project"].events_per_s / runs["flink-sql baseline"].events_per_s
    return results


def row(name: str, run: JobRun) -> dict[str, Any]:
    return {
        "job": name,
        "events": run.events,
        "start_s": round(run.seconds_to_running, 1),
        "to_exact_s": round(run.seconds_to_exact, 1),
        "events/s": round(run.events_per_s),
    }


def _baseline_job(env: DrillEnv, parallelism: int) -> Callable[[], str]:
    with psycopg.connect(env.settings.owner_dsn) as conn:
        conn.execute(baseline.CREATE_TABLE)
    s = env.settings
    args = ["--name", f"{env.name}-baseline", "--bootstrap", s.kafka_bootstrap, "--topic", s.views_topic]
    args += ["--jdbc-url", s.writer_jdbc_url, "--parallelism", str(parallelism)]
    return lambda: launch.submit_module(s, "stream.baseline", args)
