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
import contextlib
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import uvloop
from confluent_kafka import Consumer, TopicPartition

from deploy import supervisor
from deploy.bench import report
from deploy.bench.read import level, raw_requests
from deploy.paths import StatePaths
from deploy.settings import Settings
from deploy.stack import API
from ground.kafka import client_config
from readmodel import apikeys
from schemas.catalog import Catalog
from schemas.codec import decode

RECORD = "mutation View($id: ID!) { recordView(movieId: $id) { eventId } }"
# Requests spread over this many movies, so they land on every partition of the views topic.
MOVIES = 50
BENCH_KEY_RATE = 10_000_000
CALLS = ("graphql", "rest")
# #17's, for each call: at 50 clients (req/s, p99 ms) and at 1 client (p50 ms).
TARGETS = tuple(
    target
    for call in CALLS
    for target in (
        report.Target(f"{call} req/s at 50", 8000),
        report.Target(f"{call} p99_ms at 50", 25.0, at_most=True),
        report.Target(f"{call} p50_ms at 1", 2.0, at_most=True),
    )
)
LOG_POLL_S = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="API base URL (default: settings api_url)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50], help="concurrency levels")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per level")
    parser.add_argument("--calls", nargs="+", choices=CALLS, default=list(CALLS), help="which calls")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    result = bench_write(settings, args.url or settings.api_url, args.clients, args.seconds, args.calls)
    report.publish(settings, result)
    return 0 if result.figures["missing_from_log"] == 0 else 1


def bench_write(
    settings: Settings,
    base_url: str,
    clients: Sequence[int] = (1, 10, 50),
    seconds: float = 8.0,
    calls: Sequence[str] = CALLS,
) -> report.Result:
    prefix = f"bench-write-{uuid.uuid4().hex[:8]}-"
    movies = [f"{prefix}{i}" for i in range(MOVIES)]
    key = apikeys.create(
        settings.owner_dsn, settings.api_key_pepper, "bench-write", ["views:write"], BENCH_KEY_RATE
    )
    acknowledged: set[str] = set()
    rows = []
    since = log_ends(settings)
    # The API's own CPU per request, when it is the stack's: on a shared machine, latency depends on what
    # else runs, its CPU cost much less.
    api = _api_pids(settings) if base_url == settings.api_url else []
    try:
        for call in calls:
            requests = _requests(call, base_url, movies, key)
            for n in clients:
                before, cpu_before = len(acknowledged), _cpu_s(api)
                row = uvloop.run(level(base_url, requests, n, seconds, _acknowledged(call, acknowledged)))
                served = len(acknowledged) - before
                cpu_us = (_cpu_s(api) - cpu_before) * 1e6 / served if api and served else None
                rows.append(
                    {"call": call, **row, "api_cpu_us/req": None if cpu_us is None else round(cpu_us)}
                )
    finally:
        apikeys.revoke(settings.owner_dsn, apikeys.key_id(key))
    in_log = event_ids_in_log(settings, prefix.encode(), since)
    figures = {
        "acknowledged": len(acknowledged),
        "missing_from_log": len(acknowledged - in_log),
        "targets": report.against(TARGETS, *_measured(rows)),
    }
    parameters = {"url": base_url, "clients": list(clients), "seconds": seconds, "movies": MOVIES}
    return report.Result("write", parameters, rows, figures)


def _measured(rows: list[dict[str, Any]]) -> tuple[dict[str, float | None], dict[str, int]]:
    """Each figure a target may judge, and the failed requests behind it."""
    figures, errors = {}, {}
    for row in rows:
        for column in ("req/s", "p99_ms", "p50_ms"):
            figure = f"{row['call']} {column} at {row['clients']}"
            figures[figure], errors[figure] = row[column], row["errors"]
    return figures, errors


def _api_pids(settings: Settings) -> list[int]:
    """The API server's master and its worker processes (supervisord owns the master)."""
    master = supervisor.program_pid(StatePaths(settings.home), API)
    if master is None:
        return []
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used (fields 14 and 15 of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _requests(call: str, base_url: str, movies: list[str], key: str) -> list[bytes]:
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
            settings.kafka_bootstrap,
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
