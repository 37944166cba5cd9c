"""`movieviews bench write`: recordView req/s and p50/p99 at 1, 10, 50 clients against a running API, over
GraphQL (`recordView`) and the REST call (`POST /api/view/{id}`), then every acknowledged event looked up in
the views topic.

The load generator is the read bench's: closed-loop clients on keep-alive connections sending ready bytes.
The bench is a client like any other, with a `views:write` key of its own whose rate (BENCH_KEY_RATE) is far
above what it can send: the guard's per-request work (key check, token bucket) is measured, its refusals
never are. A run's events go to movies of its own (`bench-write-<run>-<n>`), so the log check reads only them.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from deploy.bench import ceiling, report
from deploy.bench.read import api_pid, measure, raw_requests
from deploy.settings import Settings
from ground.kafka import client_config
from readmodel import apikeys
from schemas.catalog import Catalog
from schemas.codec import decode

RECORD = "mutation View($id: ID!) { recordView(movieId: $id) { eventId } }"
# Requests spread over this many movies, so they land on every partition of the views topic.
MOVIES = 50
BENCH_KEY_RATE = 10_000_000
CALLS = ("graphql", "rest")
# The issue's, for each call: at 50 clients (against the bare endpoint, p99 ms) and at 1 client (p50 ms).
TARGETS = tuple(
    target
    for call in CALLS
    for target in (
        report.Target(f"{call} x bare at 50", 0.6),
        report.Target(f"{call} p99_ms at 50", 25.0, at_most=True),
        report.Target(f"{call} p50_ms at 1", 1.0, at_most=True),
    )
)
BARE = "bare"
LOG_POLL_S = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="API base URL (default: settings api_url)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50], help="concurrency levels")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per level")
    parser.add_argument("--calls", nargs="+", choices=CALLS, default=list(CALLS), help="which calls")
    parser.add_argument("--runs", type=int, default=report.RUNS, help="runs, each beside the bare endpoint's")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    result = bench_write(
        settings, args.url or settings.api_url, args.clients, args.seconds, args.calls, args.runs
    )
    report.publish(settings, result)
    return 0 if result.figures["missing_from_log"] == 0 else 1


def bench_write(
    settings: Settings,
    base_url: str,
    clients: Sequence[int] = (1, 10, 50),
    seconds: float = 8.0,
    calls: Sequence[str] = CALLS,
    runs: int = report.RUNS,
) -> report.Result:
    """`runs` times, each call at each level, then the bare producing endpoint (deploy.bench.ceiling) at each
    level; the events of both go to the same movies of the views topic."""
    prefix = f"bench-write-{uuid.uuid4().hex[:8]}-"
    movies = [f"{prefix}{i}" for i in range(MOVIES)]
    key = apikeys.create(
        settings.owner_dsn, settings.api_key_pepper, "bench-write", ["views:write"], BENCH_KEY_RATE
    )
    acknowledged: set[str] = set()
    since = log_ends(settings)
    api = api_pid(settings, base_url)
    try:
        with ceiling.serving(settings, ceiling.WRITE) as bare:
            bare_requests = _requests("rest", bare.url, movies, None)
            bare_acknowledged: set[str] = set()

            def figure() -> list[dict[str, Any]]:
                rows = []
                for call in calls:
                    requests, accept = (
                        _requests(call, base_url, movies, key),
                        _acknowledged(call, acknowledged),
                    )
                    rows += [
                        {"call": call, **measure(base_url, requests, n, seconds, api, accept)}
                        for n in clients
                    ]
                return rows

            def ceiling_() -> list[dict[str, Any]]:
                accept = _acknowledged("rest", bare_acknowledged)
                return [measure(bare.url, bare_requests, n, seconds, bare.pid, accept) for n in clients]

            figure_runs, bare_runs = report.alternating(runs, figure, ceiling_)
    finally:
        apikeys.revoke(settings.owner_dsn, apikeys.key_id(key))
    rows = report.beside(
        report.merged(figure_runs, ["call", "clients"], ("req/s", "p50_ms", "p99_ms")),
        report.merged(bare_runs, ["clients"]),
        "clients",
        BARE,
    )
    in_log = event_ids_in_log(settings, prefix.encode(), since)
    figures = {
        "acknowledged": len(acknowledged),
        "missing_from_log": len(acknowledged - in_log),
        "targets": report.against(TARGETS, *_measured(rows)),
    }
    parameters = {
        "url": base_url,
        "clients": list(clients),
        "seconds": seconds,
        "movies": MOVIES,
        "runs": runs,
    }
    return report.Result("write", parameters, rows, figures)


def _measured(rows: list[dict[str, Any]]) -> tuple[dict[str, float | None], dict[str, int]]:
    """Each figure a target may judge, and the failed requests behind it."""
    figures, errors = {}, {}
    for row in rows:
        for column in ("req/s", "p99_ms", "p50_ms", f"x {BARE}"):
            figure = f"{row['call']} {column} at {row['clients']}"
            figures[figure], errors[figure] = row[column], row["errors"]
    return figures, errors


def _requests(call: str, base_url: str, movies: list[str], key: str | None) -> list[bytes]:
    if call == "graphql":
        bodies = [orjson.dumps({"query": RECORD, "variables": {"id": m}}) for m in movies]
        return raw_requests(base_url, bodies, key)
    return raw_requests(base_url, [b""] * len(movies), key, [f"/api/view/{m}" for m in movies])


def _acknowledged(call: str, into: set[str]) -> Callable[[bytes, bytes], bool]:
    """The response check for `call`: it collects the event id of every acknowledged view `into`."""
    status = b"HTTP/1.1 200" if call == "graphql" else b"HTTP/1.1 202"

    def accept(head: bytes, body: bytes) -> bool:
        if not head.startswith(status):
            return False
        answer: Any = orjson.loads(body)
        event_id = answer["eventId"] if call == "rest" else (answer.get("data") or {}).get("recordView")
        if isinstance(event_id, dict):
            event_id = event_id["eventId"]
        if not isinstance(event_id, str):
            return False
        into.add(event_id)
        return True

    return accept


def _consumer(settings: Settings) -> Consumer:
    return Consumer(
        client_config(
            settings.kafka_admin,
            **{"group.id": f"bench-write-{uuid.uuid4().hex}", "enable.auto.commit": False},
        )
    )


def _ends(consumer: Consumer, topic: str) -> dict[int, int]:
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}


def log_ends(settings: Settings) -> dict[int, int]:
    """The views topic's end offset per partition: where a run's events will start."""
    consumer = _consumer(settings)
    try:
        return _ends(consumer, settings.views_topic)
    finally:
        consumer.close()


def event_ids_in_log(settings: Settings, key_prefix: bytes, since: dict[int, int]) -> set[str]:
    """The event ids of the views after offsets `since` in the views topic keyed by a movie whose id starts
    with `key_prefix`."""
    catalog = Catalog.bundled()
    consumer = _consumer(settings)
    try:
        ends = _ends(consumer, settings.views_topic)
        positions = {p: since.get(p, 0) for p in ends}
        consumer.assign(
            [
                TopicPartition(settings.views_topic, p, positions[p])
                for p, end in ends.items()
                if end > positions[p]
            ]
        )
        found: set[str] = set()
        while any(positions[p] < end for p, end in ends.items()):
            for message in consumer.consume(10_000, LOG_POLL_S):
                partition, offset, value = message.partition(), message.offset(), message.value()
                if message.error() is not None or partition is None or offset is None or value is None:
                    continue
                positions[partition] = offset + 1
                if (message.key() or b"").startswith(key_prefix):
                    found.add(str(decode(catalog, value, logical=False).record["event_id"]))
        return found
    finally:
        consumer.close()
