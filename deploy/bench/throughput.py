"""`movieviews bench throughput`: pre-load the views topic, run the job from the earliest offset, time until
Postgres holds the exact per-movie totals; then the same job with deduplication off, trending off, and both
off, and the Flink SQL baseline with and without its own deduplication, on the same log."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import psycopg

from deploy.bench import baseline, report
from deploy.bench.scratch import (
    JobRun,
    Load,
    checkpoints_after,
    preload,
    project_job,
    reset_read_model,
    stop,
    timed_job,
)
from deploy.flink import jobs
from deploy.jars import stream_jar
from deploy.paths import StatePaths
from deploy.sandbox import Sandbox
from deploy.settings import Settings

DEFAULT_EVENTS = 5_000_000
ALL_OFF = "project, dedup and trending off"
# At the default 1,000 movies: events/s, and against the baseline doing the same deduplication, with the
# state on RocksDB (the default); at 100,000 movies against the baseline (same log).
TARGETS = (
    report.Target("events/s over 1,000 movies", 60_000),
    report.Target("project/baseline over 1,000 movies", 0.5),
    report.Target("project/baseline over 100,000 movies", 0.4),
)
BASELINE_DEDUP = "flink-sql baseline, dedup"
BASELINE = "flink-sql baseline"
PROJECT = "project"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="views to pre-load (default 5M)")
    parser.add_argument("--movies", type=int, default=1000, help="distinct movies (default 1000)")
    parser.add_argument("--parallelism", type=int, default=1, help="of both jobs (default 1)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the Flink SQL baseline run")
    parser.add_argument(
        "--no-dedup-compare", action="store_true", help="skip the second run with deduplication off"
    )
    parser.add_argument(
        "--runs", type=int, default=report.RUNS, help="runs of the job, each beside the baseline with dedup"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    result = bench_throughput(
        settings,
        args.events,
        args.movies,
        args.parallelism,
        not args.no_baseline,
        not args.no_dedup_compare,
        args.runs,
    )
    report.publish(settings, result)
    return 0


def bench_throughput(
    settings: Settings,
    events: int,
    movies: int,
    parallelism: int = 1,
    with_baseline: bool = True,
    dedup_compare: bool = True,
    times: int = report.RUNS,
) -> report.Result:
    """The job `times`, each followed by the Flink SQL baseline with the same deduplication, on one log; then
    once each: the job with deduplication off, trending off, both off, and the baseline without dedup."""
    state_bytes: dict[str, int] = {}
    with Sandbox(settings, "bench-throughput") as env:
        load = preload(env, events, movies)
        window_s = env.settings.dedup_window_s

        def project() -> list[report.Row]:
            reset_read_model(env)
            job, state_bytes["on"] = _project_run(env, load, parallelism, None)
            return [row(PROJECT, job)]

        def ceiling() -> list[report.Row]:
            job = timed_job(env, load, _baseline_job(env, parallelism, window_s), table=baseline.TABLE)
            return [row(BASELINE_DEDUP, job)]

        if with_baseline:
            project_runs, baseline_runs = report.alternating(times, project, ceiling)
        else:
            project_runs, baseline_runs = [project() for _ in range(times)], []
        once: dict[str, JobRun] = {}
        if dedup_compare:
            reset_read_model(env)
            once["project, dedup off"], state_bytes["off"] = _project_run(env, load, parallelism, 0)
        # Same log, same database emptied: what the trending windows cost (they run in the job above).
        reset_read_model(env)
        off = project_job(env, "no-trending", parallelism, trending=False)
        once["project, trending off"] = timed_job(env, load, off)
        reset_read_model(env)
        off = project_job(env, "plain", parallelism, dedup_window_s=0, trending=False)
        once[ALL_OFF] = timed_job(env, load, off)
        if with_baseline:
            once[BASELINE] = timed_job(env, load, _baseline_job(env, parallelism, 0), table=baseline.TABLE)
    spread = ("events/s",)
    rows = report.merged(project_runs, ["job"], spread)
    if with_baseline:
        rows += report.merged(baseline_runs, ["job"], spread)
    rows += [row(name, job) for name, job in once.items()]
    rates = {r["job"]: r["events/s"] for r in rows}
    figures: dict[str, Any] = {
        "preload_events_per_s": round(load.events / load.seconds),
        "trending on/off": report.ratio(rates[PROJECT], rates["project, trending off"]),
    }
    if with_baseline:
        # Each against the baseline doing the same work (medians): with the event_id check, and without.
        figures["project/baseline"] = report.ratio(rates[PROJECT], rates[BASELINE_DEDUP])
        figures["all off/baseline"] = report.ratio(rates[ALL_OFF], rates[BASELINE])
    if dedup_compare:
        # Every event of the load has its own id and all arrive within the window: all are remembered.
        figures["dedup"] = {
            "on_over_off": report.ratio(rates[PROJECT], rates["project, dedup off"]),
            "ids": load.events,
            "checkpoint_bytes_on": state_bytes["on"],
            "checkpoint_bytes_off": state_bytes["off"],
            "state_bytes_per_id": (state_bytes["on"] - state_bytes["off"]) / load.events,
        }
    measured: dict[str, float | None] = {f"events/s over {movies:,} movies": rates[PROJECT]}
    if with_baseline:
        measured[f"project/baseline over {movies:,} movies"] = figures["project/baseline"]
    figures["targets"] = report.against(TARGETS, measured)
    parameters = {
        "events": load.events,
        "movies": len(load.truth),
        "parallelism": parallelism,
        "dedup_compare": dedup_compare,
        "runs": times,
    }
    return report.Result("throughput", parameters, rows, figures)


def _project_run(
    env: Sandbox, load: Load, parallelism: int, dedup_window_s: int | None
) -> tuple[JobRun, int]:
    """Times the job to exact totals, then reads the size of a checkpoint taken after them."""
    tag = "project" if dedup_window_s is None else "project-nodedup"
    run = timed_job(
        env, load, project_job(env, tag, parallelism, dedup_window_s=dedup_window_s), keep_running=True
    )
    try:
        latest = checkpoints_after(env, run.job_id, 1)["latest"]["completed"]
    finally:
        stop(env, run.job_id)
    return run, int(latest["state_size"])


def row(name: str, run: JobRun) -> dict[str, Any]:
    return {
        "job": name,
        "events": run.events,
        "start_s": round(run.seconds_to_running, 1),
        "to_exact_s": round(run.seconds_to_exact, 1),
        "events/s": round(run.events_per_s),
    }


def _baseline_job(env: Sandbox, parallelism: int, dedup_window_s: int) -> Callable[[], str]:
    with psycopg.connect(env.settings.owner_dsn) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {baseline.TABLE}")
        conn.execute(baseline.CREATE_TABLE)
    s = env.settings
    name = f"{env.name}-baseline{'-dedup' if dedup_window_s else ''}"
    args = ["--name", name, "--bootstrap", s.kafka_bootstrap, "--topic", s.views_topic]
    args += ["--jdbc-url", s.writer_jdbc_url, "--parallelism", str(parallelism)]
    args += ["--dedup-window-s", str(dedup_window_s), "--state-backend", s.state_backend]
    args += ["--jar", str(stream_jar(StatePaths(s.home)))]
    return lambda: jobs.submit_module(s, "deploy.bench.baseline", args)
