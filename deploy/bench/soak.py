"""`movieviews bench soak`: the live job's configuration (state backend, checkpoints, deduplication and
trending on) at a steady rate for a given duration, sampled at intervals; it passes only if every series is
flat after the warm-up and nothing restarted.

The deduplication window decides how many ids the steady state holds (rate x window), so a day's state is
reached in minutes by scaling the window (`--ids N`: window = N / rate), or loaded as a day's events before
the steady rate starts (`--events N`, the window unchanged). A large catalogue is loaded the same way
(`--catalogue`: one view of every movie first), so that the movie state holds every movie before the steady
rate, which draws movies by popularity and would otherwise keep adding tail movies to it. Each sample holds:
- the TaskManager's heap after collection: its heap in use and its collection count (Flink's
  `Status.JVM.Memory.Heap.Used` and `Status.JVM.GarbageCollector.All.Count`) are read every second from its
  Prometheus reporter, which reads them when asked (Flink's REST API serves copies up to 10 s old); a
  reading whose count rose since the one before is within a second of a collection. The interval's lowest
  such reading (the old generation and what survived, plus under a second of allocation), and its share of
  the heap's max; None for an interval without a collection;
- each stack process's resident memory;
- the job's state (the latest checkpoint's full size), what that checkpoint wrote, and its duration;
- the remembered ids (RocksDB's estimate of the deduplication state's keys) and the state's files on disk;
- the consumer lag (`stream.lag`), the read model's freshness (the worst of the per-second readings), and
  restarts (the job's, and the supervisor's of every stack process).

Flat: the growth a least-squares line through the samples after the warm-up predicts over their span is at
most `--slope-bound` of the series' mean (or of a floor for series near zero, below); a falling series is
flat. The heap after collection and the checkpoints are judged by their lows instead (`BY_LOWS` says
why). The warm-up is the window plus a minute by default: the state fills for one window, then old ids
expire as new ones come.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from deploy import status_verdict, supervisor
from deploy.bench import report
from deploy.bench.scratch import START_TIMEOUT_S, preload, project_job, stop
from deploy.bench.state_scale import rss_mb
from deploy.errors import BenchmarkError
from deploy.kafka import broker
from deploy.paths import StatePaths
from deploy.sandbox import Background, Sandbox
from deploy.settings import Settings
from deploy.testing import wait_for_counts
from deploy.wait import wait_until
from ingest.loadgen import LoadResult, generate
from stream import flinkrest, lag
from stream.errors import LagError

INTERVAL_S = 30.0
# Heap and freshness are read this often within an interval: a reading is at most this long after the
# collection it follows.
POLL_S = 1.0
# The fitted change over the judged span, as a share of the series' mean. A state that keeps every id grows
# by rate x span over a judged span as long as the warm-up: two thirds of its mean; a plateau's compaction
# and collection cycles move it by a few percent.
SLOPE_BOUND = 0.2
WARMUP_MARGIN_S = 60.0
# The load ends this long after its duration at most: its last events' delivery timeout and flush.
LOAD_GRACE_S = 120.0
MIN_JUDGED_SAMPLES = 4
# The lag is read from the group's committed offsets, which trail the job's reading by up to a checkpoint
# interval plus the checkpoint's own time (`stream.lag`), so even its lows wander by about a checkpoint
# interval of the rate (10-30k records in the 2M-id soak at 20k events/s). Its scale is this many seconds of
# the rate: with the 0.2 bound, lows that rise by more than two seconds of the rate are growth.
LAG_FLOOR_S = 10.0
MIB = 2**20
# Series and the floor their bound applies to when their mean is smaller (a lag of a few records, a
# freshness of 0.3 s: noise around zero is not growth). None: the series' mean.
SERIES: dict[str, float | None] = {
    "heap_after_gc_mb": 1024.0,
    "taskmanager_rss_mb": None,
    "jobmanager_rss_mb": None,
    "kafka_rss_mb": None,
    "postgres_rss_mb": None,
    "state_mb": 16.0,
    "checkpoint_written_mb": 16.0,
    "checkpoint_s": 2.0,
    "remembered_ids": None,
    "disk_mb": 16.0,
    "lag": None,  # floored at LAG_FLOOR_S of the rate, below
    # Each sample is the interval's worst second; against the bound the alerts hold it to (5 s: stale).
    "freshness_s": lag.FRESHNESS_LIMIT_S,
}
# Series judged by their lows, not a fitted line, because single readings spike with no trend and a line
# through a few minutes of them follows the last spike. What growth raises is the level the spikes come back
# down to: the lowest reading of the later half of the judged samples, against the lowest of the earlier half.
# - The heap after collection: G1 lets old-generation garbage build up to its marking threshold (45% of the
#   heap, ~1 GB here) before mixed collections reclaim it.
# - What a checkpoint wrote, and its duration: an incremental checkpoint uploads the files written since the
#   last one, a few MB; after a compaction rewrote files it uploads all of them (hundreds of MB at tens of
#   millions of ids).
# - The lag: read from the offsets committed with each checkpoint, so a reading falls anywhere in the sawtooth
#   between two commits (a checkpoint interval of the rate, 40k records at 20k events/s); a job that falls
#   behind raises the readings just after a commit.
BY_LOWS = frozenset({"heap_after_gc_mb", "checkpoint_written_mb", "checkpoint_s", "lag"})
# Series whose allowed growth is the bound times their floor alone, not times their mean: a job that falls
# behind raises the lag's mean with the very growth being judged.
BY_FLOOR = frozenset({"lag"})
# What a soak on the default configuration must keep: memory, checkpoints and freshness flat, no restart.
TARGETS = (
    report.Target("heap after gc, % of max", 70.0, at_most=True),
    report.Target("checkpoint p99 s", 10.0, at_most=True),
    report.Target("freshness p99 s", 1.0, at_most=True),
    report.Target("restarts", 0, at_most=True),
)


@dataclass(frozen=True)
class Plan:
    rate: float
    duration_s: float
    window_s: int
    movies: int
    preload_events: int = 0
    interval_s: float = INTERVAL_S
    warmup_s: float | None = None
    slope_bound: float = SLOPE_BOUND
    checkpoint_interval_ms: int | None = None
    catalogue: bool = False

    @property
    def warmup(self) -> float:
        """A scaled window fills during the soak; a pre-loaded day is in the state before it starts."""
        if self.warmup_s is not None:
            return self.warmup_s
        return WARMUP_MARGIN_S + (0 if self.preload_events else self.window_s)

    @property
    def ids(self) -> int:
        """Remembered ids at the end: a window's worth, or the day plus every steady event (24 h window)."""
        if self.preload_events:
            return self.preload_events + round(self.rate * self.duration_s)
        return round(self.rate * self.window_s)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s, steady (default 1000)")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of steady load (default 600)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--ids", type=int, help="remembered ids at the steady state: the window becomes ids / rate seconds"
    )
    size.add_argument(
        "--events",
        type=int,
        default=0,
        help="a day's events loaded before the steady rate (window unchanged)",
    )
    parser.add_argument("--movies", type=int, default=1000, help="distinct movies (default 1000)")
    parser.add_argument(
        "--catalogue", action="store_true", help="one view of every movie first, then the steady rate"
    )
    parser.add_argument("--interval", type=float, default=INTERVAL_S, help="seconds between samples (30)")
    parser.add_argument("--warmup", type=float, help="seconds not judged (default: the window + 60)")
    parser.add_argument(
        "--slope-bound", type=float, default=SLOPE_BOUND, help="flat: fitted change <= this x mean (0.2)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    window = math.ceil(args.ids / args.rate) if args.ids else settings.dedup_window_s
    plan = Plan(
        args.rate,
        args.duration,
        window,
        args.movies,
        args.events,
        args.interval,
        args.warmup,
        args.slope_bound,
        catalogue=args.catalogue,
    )
    result = bench_soak(settings, plan)
    report.publish(settings, result)
    return 0 if result.figures["passed"] else 1


def bench_soak(settings: Settings, plan: Plan) -> report.Result:
    with Sandbox(settings, "bench-soak") as env:
        preloads = [preload(env, plan.movies, plan.movies, in_turn=True)] if plan.catalogue else []
        if plan.preload_events:
            preloads.append(preload(env, plan.preload_events, plan.movies))
        preloaded = _merged(*(loaded.truth for loaded in preloads))
        submit = project_job(
            env, "soak", dedup_window_s=plan.window_s, checkpoint_interval_ms=plan.checkpoint_interval_ms
        )
        env.job_id = job_id = submit()
        wait_until(lambda: flinkrest.tasks_running(env.settings, job_id), START_TIMEOUT_S, f"job {job_id}")
        if preloads:
            # The catalogue and the day are in the state before the steady rate starts.
            wait_for_counts(env.settings, preloaded, 120 + sum(loaded.events for loaded in preloads) / 500)
        restarts_before = _supervised_restarts(settings)
        sampler = Sampler(env.settings, job_id, lag.group_of(f"{env.name}-soak"), plan)
        load = _steady_load(env, plan, sampler.run)
        truth = _merged(preloaded, load.per_movie)
        to_exact = wait_for_counts(env.settings, truth, 240)
        checkpoints = flinkrest.checkpoints(env.settings, job_id)
        state = flinkrest.state_figures(env.settings, job_id)
        stop(env, job_id)
        env.job_id = None
    supervised = _supervised_restarts(settings) - restarts_before
    return _result(plan, sampler.samples, checkpoints, state, supervised, load, to_exact)


def _steady_load(env: Sandbox, plan: Plan, sample: Callable[[Callable[[], bool]], None]) -> LoadResult:
    """The load generator paces `rate` for `duration` (`ingest.loadgen`) on a thread while `sample` runs. The
    thread is a daemon (`Background`): Ctrl-C ends the sampling, the sandbox is removed and the process exits
    without waiting for the rest of the load."""
    load = Background(
        lambda: generate(env.settings, rate=plan.rate, seconds=plan.duration_s, movies=plan.movies),
        plan.duration_s + LOAD_GRACE_S,
    )
    sample(load.done)
    result: LoadResult = load.result()
    if result.failed:
        raise BenchmarkError(f"{result.failed} of {result.sent} events not acknowledged: no ground truth")
    return result


def _merged(*truths: dict[str, int]) -> dict[str, int]:
    merged: Counter[str] = Counter()
    for truth in truths:
        merged.update(truth)
    return dict(merged)


def _supervised_restarts(settings: Settings) -> int:
    log = supervisor.restart_log(StatePaths(settings.home))
    return sum(count for count, _ in supervisor.restart_counts(log).values())


@dataclass
class Sampler:
    settings: Settings
    job_id: str
    group: str
    plan: Plan
    samples: list[dict[str, Any]] = field(default_factory=list)
    last: Heap | None = None

    def run(self, finished: Callable[[], bool]) -> None:
        """A sample at the end of every whole interval until `finished`."""
        started = time.monotonic()
        while not finished():
            heap: list[Heap] = []
            fresh: list[float] = []
            until = time.monotonic() + self.plan.interval_s
            while time.monotonic() < until and not finished():
                with contextlib.suppress(OSError, ValueError):  # a busy TaskManager: this second goes unread
                    heap += self._after_collection(taskmanager_heap(self.settings))
                age = status_verdict.freshness(self.settings)
                if age is not None:
                    fresh.append(age)
                time.sleep(POLL_S)
            if finished():  # the load ended within this interval: a partial sample, not judged
                break
            self.samples.append(self._sample(time.monotonic() - started, heap, fresh))
            lines = report.table(self.samples[-1:]).splitlines()
            print("\n".join(lines if len(self.samples) == 1 else lines[1:]), flush=True)

    def _after_collection(self, now: Heap) -> list[Heap]:
        """The reading, if the TaskManager collected since the previous poll."""
        previous, self.last = self.last, now
        return [now] if previous is not None and now.collections > previous.collections else []

    def _sample(self, t_s: float, heap: list[Heap], fresh: list[float]) -> dict[str, Any]:
        checkpoints = flinkrest.checkpoints(self.settings, self.job_id)
        latest = (checkpoints.get("latest") or {}).get("completed") or {}
        state = flinkrest.state_figures(self.settings, self.job_id)
        restarts = flinkrest.restarts(self.settings, self.job_id)
        rss = rss_mb(StatePaths(self.settings.home))
        low = min(heap, key=lambda h: h.used) if heap else None
        return {
            "t_s": round(t_s),
            "heap_after_gc_mb": None if low is None else round(low.used / MIB),
            "heap_pct": None if low is None else round(100 * low.used / low.max, 1),
            "taskmanager_rss_mb": rss.get("flink taskmanager"),
            "jobmanager_rss_mb": rss.get("flink jobmanager"),
            "kafka_rss_mb": rss.get("kafka"),
            "postgres_rss_mb": rss.get("postgres (all backends)"),
            "state_mb": _mb(latest.get("state_size")),
            "checkpoint_written_mb": _mb(latest.get("checkpointed_size")),
            "checkpoint_s": _seconds(latest.get("end_to_end_duration")),
            "remembered_ids": state.remembered_ids,
            "disk_mb": _mb(state.total_disk_bytes),
            "lag": self._lag(),
            "freshness_s": round(max(fresh), 2) if fresh else None,
            "restarts": int(restarts),
        }

    def _lag(self) -> int | None:
        topics = [self.settings.views_topic, self.settings.movies_topic]
        try:
            found = lag.positions(broker.admin(self.settings), self.group, topics)
        except LagError:
            return None
        return sum(found.lag().values())


@dataclass(frozen=True)
class Heap:
    used: int
    max: int
    collections: int  # since the JVM started, every collector's


HEAP_METRICS = {
    "flink_taskmanager_Status_JVM_Memory_Heap_Used": "used",
    "flink_taskmanager_Status_JVM_Memory_Heap_Max": "max",
    "flink_taskmanager_Status_JVM_GarbageCollector_All_Count": "collections",
}


def taskmanager_heap(settings: Settings) -> Heap:
    """The TaskManager's heap figures as its Prometheus reporter reads them now."""
    host = urllib.parse.urlsplit(settings.flink_rest).hostname
    url = f"http://{host}:{settings.flink_taskmanager_metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    values = {
        HEAP_METRICS[sample.name]: int(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in HEAP_METRICS
    }
    return Heap(**values)


def _mb(value: float | None) -> float | None:
    return None if value is None else round(value / MIB, 1)


def _seconds(value_ms: float | None) -> float | None:
    return None if value_ms is None else round(value_ms / 1000, 2)


def slope_verdict(
    samples: list[dict[str, Any]], name: str, floor: float | None, bound: float
) -> dict[str, Any] | None:
    """The fitted slope (per hour) of `name` over `samples`, the change it predicts over their span (for a
    series in `BY_LOWS`: the rise of the later half's lowest reading over the earlier half's), the allowed
    growth (`bound` x the mean, or x `floor` if larger; x `floor` alone for a series in `BY_FLOOR`) and
    whether the series is flat."""
    points = [(s["t_s"], float(s[name])) for s in samples if s.get(name) is not None]
    if len(points) < 2 or points[-1][0] == points[0][0]:
        return None
    times, values = zip(*points, strict=True)
    slope, _ = statistics.linear_regression(times, values)
    if name in BY_LOWS:
        half = len(values) // 2
        change = min(values[half:]) - min(values[:half])
    else:
        change = slope * (times[-1] - times[0])
    scale = floor if name in BY_FLOOR and floor else max(statistics.fmean(values), floor or 0.0)
    allowed = bound * scale
    return {
        "series": name,
        "mean": round(statistics.fmean(values), 2),
        "slope_per_h": round(slope * 3600, 2),
        "change": round(change, 2),
        "allowed": round(allowed, 2),
        "flat": change <= allowed,
    }


def _per(state: flinkrest.StateFigures, name: str) -> float | None:
    keys, size = state.keys.get(name), state.disk_bytes.get(name)
    return round(size / keys, 1) if keys and size is not None else None


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) > 1 else values[0]


def _result(
    plan: Plan,
    samples: list[dict[str, Any]],
    checkpoints: dict[str, Any],
    state: flinkrest.StateFigures,
    supervised_restarts: int,
    load: LoadResult,
    to_exact_s: float,
) -> report.Result:
    judged = [s for s in samples if s["t_s"] >= plan.warmup]
    floors = {**SERIES, "lag": plan.rate * LAG_FLOOR_S}
    verdicts = [
        v
        for name, floor in floors.items()
        if (v := slope_verdict(judged, name, floor, plan.slope_bound)) is not None
    ]
    restarts = max((s["restarts"] for s in samples), default=0) + supervised_restarts
    enough = len(judged) >= MIN_JUDGED_SAMPLES
    passed = enough and restarts == 0 and all(v["flat"] for v in verdicts)
    heap_pct = [s["heap_pct"] for s in judged if s["heap_pct"] is not None]
    freshness = [s["freshness_s"] for s in judged if s["freshness_s"] is not None]
    measured = {
        "heap after gc, % of max": max(heap_pct, default=0.0),
        "checkpoint p99 s": checkpoints["summary"]["end_to_end_duration"]["p99"] / 1000,
        "restarts": restarts,
        **({"freshness p99 s": _p99(freshness)} if freshness else {}),
    }
    figures: dict[str, Any] = {
        "passed": passed,
        "slope_bound": plan.slope_bound,
        "judged_samples": len(judged),
        "warmup_s": plan.warmup,
        "window_s": plan.window_s,
        "steady_events_per_s": round(load.events_per_s),
        "events": load.acknowledged + plan.preload_events + (plan.movies if plan.catalogue else 0),
        "exact_after_load_s": round(to_exact_s, 1),
        "restarts": {
            "job": max((s["restarts"] for s in samples), default=0),
            "supervised": supervised_restarts,
        },
        "slopes": {v["series"]: v for v in verdicts},
        # What each state holds on disk per entry at the end: the capacity figures (docs/CAPACITY.md).
        "states": {
            name: {"keys": keys, "disk_bytes": state.disk_bytes.get(name), "bytes_per_key": _per(state, name)}
            for name, keys in sorted(state.keys.items())
        },
        "targets": report.against(TARGETS, measured),
    }
    if not enough:
        figures["why"] = f"{len(judged)} samples after the warm-up, fewer than {MIN_JUDGED_SAMPLES}"
    parameters = {
        "rate": plan.rate,
        "duration_s": plan.duration_s,
        "window_s": plan.window_s,
        "ids": plan.ids,
        "preload_events": plan.preload_events,
        "movies": plan.movies,
        "catalogue": plan.catalogue,
        "interval_s": plan.interval_s,
    }
    return report.Result("soak", parameters, samples, figures)
