"""`movieviews bench state-scale`: views of about a million distinct movies; once Postgres holds them all,
the job's checkpoint size and duration (JobManager REST) and the resident memory of each stack process."""

from __future__ import annotations

import argparse
from pathlib import Path

from deploy import supervisor
from deploy.bench import report
from deploy.bench.scratch import checkpoints_after, preload, project_job, stop, timed_job
from deploy.flink import standalone
from deploy.kafka import broker
from deploy.paths import StatePaths
from deploy.postgres import server as postgres
from deploy.sandbox import Sandbox
from deploy.settings import Settings
from stream.config import STATE_BACKENDS

# Every one of 2^20 movies gets one slot of the load generator's popularity table when the draw is uniform;
# 3.5M views then touch all but ~4% of them: just over a million distinct movies.
MOVIES = 1 << 20
EVENTS = 3_500_000
# The state-scale target, at about one new movie per view.
TARGETS = (report.Target("events/s", 20_000),)
# Checkpoints after the totals are exact: every movie is in the state by then.
CHECKPOINTS_AFTER = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=EVENTS, help="views to pre-load (default 3.5M)")
    parser.add_argument("--movies", type=int, default=MOVIES, help="movies to draw from (default 2^20)")
    parser.add_argument(
        "--state-backend",
        choices=STATE_BACKENDS,
        help="the job's state backend (default: the setting MOVIEVIEWS_STATE_BACKEND)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    backend = args.state_backend or settings.state_backend
    report.publish(settings, bench_state_scale(settings, args.events, args.movies, backend))
    return 0


def bench_state_scale(settings: Settings, events: int, movies: int, state_backend: str) -> report.Result:
    with Sandbox(settings, "bench-state-scale") as env:
        load = preload(env, events, movies, zipf=0.0)
        submit = project_job(
            env, "state", checkpoint_interval_ms=settings.checkpoint_interval_ms, state_backend=state_backend
        )
        run = timed_job(env, load, submit, keep_running=True)
        try:
            checkpoints = checkpoints_after(env, run.job_id, CHECKPOINTS_AFTER)
            rss = rss_mb(StatePaths(settings.home))
        finally:
            stop(env, run.job_id)
    latest = checkpoints["latest"]["completed"]
    summary = checkpoints["summary"]
    checkpoint = {
        "state_backend": state_backend,
        "movies": len(load.truth),
        "interval_ms": settings.checkpoint_interval_ms,
        "latest_size_mb": round(latest["state_size"] / 2**20, 1),
        # What the checkpoint wrote: all of it on hashmap, only the new files on incremental rocksdb.
        "latest_written_mb": round(latest["checkpointed_size"] / 2**20, 1),
        "latest_duration_ms": latest["end_to_end_duration"],
        "max_duration_ms": summary["end_to_end_duration"]["max"],
        "avg_duration_ms": summary["end_to_end_duration"]["avg"],
    }
    return report.Result(
        "state-scale",
        {"events": load.events, "movies": movies, "state_backend": state_backend},
        [checkpoint],
        {
            "distinct_movies": len(load.truth),
            "events_per_s": round(run.events_per_s),
            "rss_mb": rss,
            "targets": report.against(TARGETS, {"events/s": run.events_per_s}),
        },
    )


def rss_mb(paths: StatePaths) -> dict[str, float]:
    """Resident memory of each stack process; Postgres as the postmaster plus all its backends."""
    # supervisord owns these processes, so their pids come from it, not from pid files.
    pids = {
        "kafka": supervisor.program_pid(paths, broker.COMPONENT),
        "flink jobmanager": supervisor.program_pid(paths, standalone.JOBMANAGER),
        "flink taskmanager": supervisor.program_pid(paths, standalone.TASKMANAGER),
    }
    out = {name: _rss_kb(pid) / 1024 for name, pid in pids.items() if pid is not None}
    postmaster = postgres.pid(paths)
    if postmaster is not None:
        family = [postmaster, *_children(postmaster)]
        out["postgres (all backends)"] = sum(_rss_kb(pid) for pid in family) / 1024
    return {name: round(mb) for name, mb in out.items()}


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found
