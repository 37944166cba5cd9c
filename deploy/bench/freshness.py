"""`movieviews bench freshness`: under steady background load, the time from recordView's acknowledgement to
the view showing in topMovies (the probe movie's count there reaching the views recorded).

The probe movie is seeded with more views than the background's top movie gets in the whole run, so it is
first in topMovies and only the probes change its count.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from deploy.bench import report
from deploy.bench.scratch import SEED, project_job, stop
from deploy.drills.harness import Background, DrillEnv
from deploy.errors import NotReadyError
from deploy.graphql_client import GraphQLClient
from deploy.settings import Settings
from deploy.testing import wait_for_counts
from deploy.wait import wait_until
from ingest.loadgen import generate
from stream import flinkrest

SEED_VIEWS = 200_000
WARMUP_S = 5.0
PROBE_GAP_S = 0.2  # between probes, so each one meets the pipeline in its steady state, not our last probe
POLL_S = 0.005
PROBE_TIMEOUT_S = 30.0
TOP = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rates", type=int, nargs="+", default=[1000, 10000], help="background events/s")
    parser.add_argument("--probes", type=int, default=100, help="recordView probes per rate (default 100)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    report.publish(settings, bench_freshness(settings, args.rates, args.probes))
    return 0


def bench_freshness(settings: Settings, rates: list[int], probes: int) -> report.Result:
    with DrillEnv(settings, "bench-freshness") as env:
        seeded = generate(env.settings, events=SEED_VIEWS, movies=1, movie_prefix="probe-", seed=SEED)
        probe_id, recorded = next(iter(seeded.per_movie.items()))
        job_id = project_job(env, "freshness")()
        try:
            wait_until(lambda: flinkrest.tasks_running(env.settings, job_id), 180, f"job {job_id}")
            wait_for_counts(env.settings, seeded.per_movie, 300)
            env.start_api()
            rows = []
            with GraphQLClient(env.settings.api_url, env.api_key) as client:
                for rate in rates:
                    latencies = _probe_under_load(env, client, probe_id, recorded, rate, probes)
                    recorded += probes
                    rows.append(_row(rate, latencies))
        finally:
            stop(env, job_id)
    return report.Result("freshness", {"rates": rates, "probes_per_rate": probes}, rows)


def _probe_under_load(
    env: DrillEnv, client: GraphQLClient, probe_id: str, recorded: int, rate: int, probes: int
) -> list[float]:
    seconds = WARMUP_S + probes * (PROBE_GAP_S + 1.0)
    load = Background(lambda: generate(env.settings, rate=rate, seconds=seconds, movies=1000, seed=SEED))
    time.sleep(WARMUP_S)
    latencies = []
    for _ in range(probes):
        client.record_view(probe_id)
        acknowledged = time.monotonic()
        recorded += 1
        while _top_count(client, probe_id) < recorded:
            if time.monotonic() - acknowledged > PROBE_TIMEOUT_S:
                raise NotReadyError(
                    f"view {recorded} of {probe_id} not in topMovies after {PROBE_TIMEOUT_S}s"
                )
            time.sleep(POLL_S)
        latencies.append(time.monotonic() - acknowledged)
        time.sleep(PROBE_GAP_S)
    load.result()
    return latencies


def _top_count(client: GraphQLClient, movie_id: str) -> int:
    for entry in client.top_movies(TOP)["entries"]:
        if entry["movie"]["id"] == movie_id:
            return int(entry["viewCount"])
    return 0


def _row(rate: int, latencies: list[float]) -> dict[str, Any]:
    ordered = sorted(ms * 1000 for ms in latencies)
    return {
        "background_events/s": rate,
        "probes": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[int(len(ordered) * 0.95)], 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
        "max_ms": round(ordered[-1], 1),
    }
