"""`movieviews bench rebuild`: the time `movieviews rebuild` takes over a pre-loaded log (from offset zero to
readers switched), next to the live job's own time over the same log, with a GraphQL reader polling
`topMovies` throughout the rebuild (its failed requests and decreases are reported), and the restarts of
every job that ran beside the rebuild (the benchmark's live job, and the stack's own when it is up): a rebuild
that fills its own state shares their TaskManager and must leave them running."""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Collection

from deploy.bench import report
from deploy.bench.scratch import preload, project_job, timed_job
from deploy.bench.throughput import row
from deploy.rebuild import LiveJob, rebuild
from deploy.sandbox import Background, Sandbox, read_while
from deploy.settings import Settings
from deploy.testing import wait_for_counts
from stream import flinkrest
from stream.errors import FlinkRestError

# At a few thousand events/s on a loaded machine, 5M events take tens of minutes.
TIMEOUT_S = 4 * 3600
# The rebuild's time is reported, not judged; what it must keep is every reader's request answered.
TARGETS = (
    report.Target("reader_failed", 0, at_most=True),
    report.Target("restarts_beside", 0, at_most=True),
)
# How often the jobs beside the rebuild are asked for their restart count: a restart lasts seconds at least
# (the restart strategy's first backoff is 1 s), and the count only rises.
RESTARTS_POLL_S = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=5_000_000, help="views to pre-load (default 5M)")
    parser.add_argument("--movies", type=int, default=1000, help="distinct movies (default 1000)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    report.publish(settings, bench_rebuild(settings, args.events, args.movies))
    return 0


def bench_rebuild(settings: Settings, events: int, movies: int) -> report.Result:
    with Sandbox(settings, "bench-rebuild") as env:
        load = preload(env, events, movies)
        live = timed_job(env, load, project_job(env, "live"), keep_running=True)
        api = env.start_api()
        done = threading.Event()
        reader = Background(lambda: read_while(api, env.api_key, done))
        beside = {job.job_id: job.name for job in flinkrest.jobs(env.settings) if job.alive}
        restarts = Background(lambda: restarts_while(env.settings, beside, done))
        started = time.monotonic()
        name = f"{env.name}-live"
        try:
            switched = rebuild(env.settings, env.paths, LiveJob(name, name), print, TIMEOUT_S, False)
        finally:
            done.set()
        seconds = time.monotonic() - started
        requests, failed, decreases = reader.result()
        restarted = {beside[job_id]: count for job_id, count in restarts.result().items()}
        env.job_id = switched.job_id
        # The switched-to version (read through the API's view) holds the exact totals.
        wait_for_counts(env.settings, load.truth, 120)
    return report.Result(
        "rebuild",
        {"events": load.events, "movies": movies},
        [
            row("live job, offset zero to exact", live),
            {
                "job": "rebuild, offset zero to switched",
                "events": load.events,
                "start_s": None,
                "to_exact_s": round(seconds, 1),
                "events/s": round(load.events / seconds),
            },
        ],
        {
            "rebuild_s": seconds,
            "updates_paused_s": switched.paused_s,
            "reader_requests": requests,
            "reader_failed": failed,
            "reader_decreases": decreases,
            "restarts_beside_per_job": restarted,
            "comparison": switched.comparison.summary(),
            "targets": report.against(
                TARGETS, {"reader_failed": failed, "restarts_beside": sum(restarted.values())}
            ),
        },
    )


def restarts_while(settings: Settings, job_ids: Collection[str], done: threading.Event) -> dict[str, int]:
    """Each job's restarts (`flinkrest.restarts`) from the first reading until `done`: the last count read,
    less the first. A job that has ended (the live job the rebuild replaced) keeps its last count."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    while True:
        for job_id in job_ids:
            try:
                last[job_id] = flinkrest.restarts(settings, job_id)
            except FlinkRestError:
                continue
            first.setdefault(job_id, last[job_id])
        if done.wait(RESTARTS_POLL_S):
            return {job_id: last.get(job_id, 0) - first.get(job_id, 0) for job_id in job_ids}
