"""The API's Prometheus metrics, served at /metrics, correct with several worker processes.

`movieviews serve` points `PROMETHEUS_MULTIPROC_DIR` at an emptied folder before any worker imports
prometheus_client: each worker then writes its samples to files there, and whichever worker answers a
scrape sums them all (prometheus_client's multiprocess mode). Without the variable (tests, one process) the
default registry serves them. Labels take a fixed set of values: operations and outcomes, never ids.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import re
import shutil
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from readmodel.errors import DatabaseUnavailableError
from readmodel.store import MovieStatsStore
from stream.config import slot_job_name
from stream.errors import LagError
from stream.lag import group_of
from stream.upsert import SLOTS

if TYPE_CHECKING:
    from readmodel.health import KafkaProbe  # health imports the REST module, which counts through this one

# prometheus_client's own variable: `movieviews serve` sets it before any worker imports prometheus_client.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

CONTENT_TYPE = CONTENT_TYPE_LATEST
# From a cached response (~0.1 ms) to a publish that waits out a broker timeout (5 s).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# `operation` label values: GraphQL root fields and REST routes; anything else is "other".
OPERATIONS = (
    "topMovies",
    "movie",
    "recordView",
    "registerMovie",
    "rest_register_movie",
    "rest_record_view",
    "rest_views",
    "graphiql",
    "healthz",
    "readyz",
    "metrics",
    "other",
)
OTHER = "other"
# Flink's Prometheus reporter writes every other character of a label value as "_" (movie-views: movie_views).
FLINK_LABEL_VALUE = re.compile(r"[^a-zA-Z0-9_]")

REQUEST_SECONDS = Histogram(
    "movieviews_api_request_duration_seconds",
    "Time from request to the end of the response, by operation",
    ["operation"],
    buckets=LATENCY_BUCKETS,
)
RECORD_VIEWS = Counter(
    "movieviews_api_record_views",
    "recordView calls (GraphQL, REST): acknowledged by Kafka, failed (no acknowledgement), invalid argument",
    ["outcome"],
)
RESPONSE_CACHE = Counter(
    "movieviews_api_response_cache_requests",
    "Query requests by how the reused-response cache answered: hit (fresh), stale (served during its "
    "recomputation), miss (executed)",
    ["result"],
)
SUBSCRIPTIONS_OPEN = Gauge(
    "movieviews_api_subscriptions_open",
    "GraphQL subscriptions open now, all workers",
    multiprocess_mode="livesum",
)
RATE_LIMIT_REFUSALS = Counter(
    "movieviews_api_rate_limit_refusals",
    "Requests refused by a limit (rate: requests per key or address; cost: a document over a cost limit of "
    "readmodel.cost; body_size: a body over the size limit; headers: a request head over its size limit; "
    "malformed: a body that is no request: not JSON, not UTF-8, a batch, a field of the wrong type)",
    ["limit"],
)
# `limit` label values of RATE_LIMIT_REFUSALS.
REFUSAL_LIMITS = ("rate", "cost", "body_size", "headers", "malformed")

# Every label value has a sample from the start, so a query for any of them finds one. The per-request ones
# are bound once: `labels()` took 2 µs a call (lock, tuple, dict); a cached response takes 60-100 µs in all.
REQUEST_SECONDS_BY_OPERATION = {operation: REQUEST_SECONDS.labels(operation) for operation in OPERATIONS}
RECORD_VIEWS_BY_OUTCOME = {
    outcome: RECORD_VIEWS.labels(outcome) for outcome in ("acknowledged", "failed", "invalid")
}
RESPONSE_CACHE_BY_RESULT = {result: RESPONSE_CACHE.labels(result) for result in ("hit", "stale", "miss")}
REFUSALS_BY_LIMIT = {limit: RATE_LIMIT_REFUSALS.labels(limit) for limit in REFUSAL_LIMITS}


# How often a worker writes what it counted in memory (`Pending`) to the metric files; a scrape answered by
# another worker sees this worker's figures at most this old.
FLUSH_S = 1.0


class Pending:
    """The per-request figures, counted in this worker's memory and written to the metrics by `flush`.

    In multiprocess mode every write to a value takes a lock, checks the pid and writes the mmap'ed file, and
    a histogram observation writes two values: the request time and the cache hit were the largest share of
    a cached read's own work after the rate limit (docs/PERFORMANCE.md, "Where a cached read's time goes").
    Here each is an addition to a list or dict; `flush` writes a bucket's or counter's total once. The
    worker writes every FLUSH_S (`flushing`), before it answers a scrape (`exposition`) and when it stops."""

    def __init__(self) -> None:
        # Per operation: observations per bucket of LATENCY_BUCKETS (+Inf last), and their sum.
        self._times = {operation: [0] * (len(LATENCY_BUCKETS) + 1) for operation in OPERATIONS}
        self._sums = dict.fromkeys(OPERATIONS, 0.0)
        self._counts: dict[Counter, int] = {}

    def observe(self, operation: str, seconds: float) -> None:
        self._times[operation][bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._sums[operation] += seconds

    def count(self, counter: Counter) -> None:
        """One more for `counter`, a labelled child."""
        self._counts[counter] = self._counts.get(counter, 0) + 1

    def flush(self) -> None:
        for operation, buckets in self._times.items():
            if not any(buckets):
                continue
            histogram = REQUEST_SECONDS_BY_OPERATION[operation]
            # Histogram.observe adds one observation; the totals go to the values it writes (its bucket
            # values and its sum, prometheus_client pinned in pyproject.toml).
            for index, observed in enumerate(buckets):
                if observed:
                    histogram._buckets[index].inc(observed)
                    buckets[index] = 0
            histogram._sum.inc(self._sums[operation])
            self._sums[operation] = 0.0
        counts, self._counts = self._counts, {}
        for counter, value in counts.items():
            counter.inc(value)


PENDING = Pending()


async def flushing() -> None:
    """Writes this worker's pending figures every FLUSH_S until cancelled, and once more then."""
    try:
        while True:
            await asyncio.sleep(FLUSH_S)
            PENDING.flush()
    finally:
        PENDING.flush()


Lags = dict[str, dict[tuple[str, int], int]]


class _Pipeline(Collector):
    """Figures measured when scraped, by whichever worker answers: the read model's freshness (now minus the
    newest snapshot's `updated_at`), the log end offset of each partition of the event topics, and each
    job's lag per partition (`stream.lag`: the log end minus its group's committed offset), keyed by job
    name (names and topics as Flink's reporter writes them, so the rules join them with the job's series)."""

    def __init__(
        self, newest: datetime | None, end_offsets: dict[tuple[str, int], int], lags: Lags | None = None
    ) -> None:
        self._newest = newest
        self._end_offsets = end_offsets
        self._lags = lags or {}

    def collect(self) -> list[GaugeMetricFamily]:
        ends = GaugeMetricFamily(
            "movieviews_kafka_log_end_offset",
            "Offset the next record of each event-topic partition gets (topic as Flink's reporter writes it)",
            labels=["topic", "partition"],
        )
        for (topic, partition), offset in sorted(self._end_offsets.items()):
            ends.add_metric([FLINK_LABEL_VALUE.sub("_", topic), str(partition)], offset)
        lags = GaugeMetricFamily(
            "movieviews_job_lag_records",
            "Records of each event-topic partition past the offset the job's group committed at its last "
            "checkpoint",
            labels=["job_name", "topic", "partition"],
        )
        for job, behind in sorted(self._lags.items()):
            for (topic, partition), records in sorted(behind.items()):
                labels = [FLINK_LABEL_VALUE.sub("_", job), FLINK_LABEL_VALUE.sub("_", topic), str(partition)]
                lags.add_metric(labels, records)
        if self._newest is None:
            return [ends, lags]
        newest = self._newest.timestamp()
        return [
            ends,
            lags,
            GaugeMetricFamily(
                "movieviews_readmodel_newest_snapshot_timestamp_seconds",
                "updated_at of the newest row in movie_stats (Unix time)",
                value=newest,
            ),
            GaugeMetricFamily(
                "movieviews_readmodel_freshness_seconds",
                "Now minus the newest snapshot's updated_at",
                value=max(0.0, time.time() - newest),
            ),
        ]


class _Disk(Collector):
    """Available and total bytes of the filesystem holding `folder` (the job's checkpoints), measured when
    scraped, named as node_exporter names them: the stack runs no node exporter, and a full disk fails every
    checkpoint (rules.yml: StateDiskLow). Available is what an unprivileged writer may still use."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def collect(self) -> list[GaugeMetricFamily]:
        try:
            usage = shutil.disk_usage(self._folder)
        except OSError:  # not made yet, or gone: no figure, as for an outage
            return []
        found = []
        for name, meaning, value in (
            ("avail", "Bytes an unprivileged process may still write", usage.free),
            ("size", "Size in bytes", usage.total),
        ):
            family = GaugeMetricFamily(
                f"movieviews_filesystem_{name}_bytes",
                f"{meaning} on the filesystem of `path`",
                labels=["path"],
            )
            family.add_metric([str(self._folder)], value)
            found.append(family)
        return found


def exposition(
    newest_snapshot: datetime | None,
    end_offsets: dict[tuple[str, int], int],
    disk: Path | None = None,
    lags: Lags | None = None,
) -> bytes:
    """The text exposition of every worker's metrics plus the figures measured now (`_Pipeline`, and the
    free space of `disk`'s filesystem when given)."""
    PENDING.flush()
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    freshness = CollectorRegistry(auto_describe=False)
    freshness.register(_Pipeline(newest_snapshot, end_offsets, lags))
    if disk is not None:
        freshness.register(_Disk(disk))
    return generate_latest(registry) + generate_latest(freshness)


def endpoint(
    store: MovieStatsStore,
    kafka: KafkaProbe,
    topics: list[str],
    disk: Path | None = None,
    lineage: str | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """With `lineage`, the lag of each of its slots' jobs is exported (a job that runs no more keeps its
    group's offsets for days: the rules keep only the lag of jobs Flink reports)."""
    jobs = [] if lineage is None else [slot_job_name(lineage, slot) for slot in SLOTS]

    async def metrics(request: Request) -> Response:
        # An outage leaves its figure out of this scrape; /readyz and the alert rules tell of the outage.
        try:
            _, newest = await store.totals()
        except DatabaseUnavailableError:
            newest = None
        try:
            ends = await kafka.end_offsets(topics)
        except (KafkaException, TimeoutError):
            ends = {}
        lags: Lags = {}
        for job in jobs:
            try:
                lags[job] = await asyncio.to_thread(kafka.lag, group_of(job), topics)
            except LagError:
                continue
        return Response(exposition(newest, ends, disk, lags), media_type=CONTENT_TYPE)

    return metrics


class RequestMetrics:
    """ASGI middleware: times each HTTP request under its operation, which the GraphQL view sets per request
    (`request.state.operation`) and a route otherwise gives by its name."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self._app(scope, receive, send)
        finally:
            observe(scope, started)


def observe(scope: Scope, started: float) -> None:
    """Times an HTTP request that began at `started` (time.perf_counter) under its operation."""
    PENDING.observe(operation_of(scope), time.perf_counter() - started)


def operation_of(scope: Scope) -> str:
    operation = scope.get("state", {}).get("operation")
    if operation is None:
        route = scope.get("route")
        operation = getattr(route, "name", OTHER)
    return operation if operation in OPERATIONS else OTHER
