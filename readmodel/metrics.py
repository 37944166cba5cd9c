"""The API's Prometheus metrics: the metric objects every module counts with, and the per-request figures
each worker counts in memory and writes every FLUSH_S. A leaf: readmodel.exposition serves them at /metrics,
correct with several worker processes. Labels take a fixed set of values: operations and outcomes, never ids.
"""

from __future__ import annotations

import asyncio
import bisect
import time

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

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
