"""Throughput of the whole job: pre-load a views topic, start the job from the earliest offset, and time until
Postgres holds the exact per-movie totals. Also the load helpers the integration tests share."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from typing import Any

import psycopg
from confluent_kafka import Producer

from deploy.settings import Settings
from schemas.catalog import Catalog
from schemas.codec import encode
from stream import flinkrest, launch
from stream.config import JobConfig
from stream.decoding import VIEWED
from stream.errors import StreamError

# Zipf exponent of movie popularity: a few blockbusters and a long tail, like real viewing.
ZIPF_S = 1.1
EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: fixed so runs are reproducible
# Polling Postgres more often than this only adds load to what is being measured.
POLL_S = 0.2


def zipf_movies(events: int, movies: int, seed: int) -> list[str]:
    ids = [f"movie-{rank:05d}" for rank in range(1, movies + 1)]
    weights = [1.0 / rank**ZIPF_S for rank in range(1, movies + 1)]
    return random.Random(seed).choices(ids, weights, k=events)


def producer(settings: Settings) -> Producer:
    # linger.ms 20: batches of a few thousand small events; the idempotent producer keeps per-partition order.
    return Producer(
        {"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True, "linger.ms": 20}
    )


def view_payload(catalog: Catalog, movie_id: str, occurred_ms: int) -> bytes:
    record = {
        "event_id": str(uuid.uuid4()),
        "movie_id": movie_id,
        "user_id": None,
        "occurred_at": occurred_ms,
    }
    return encode(catalog, VIEWED, record, version=1)


def publish(settings: Settings, topic: str, messages: list[tuple[str | None, bytes]]) -> None:
    out = producer(settings)
    for key, value in messages:
        while True:
            try:
                out.produce(topic, key=None if key is None else key.encode(), value=value)
                break
            except BufferError:  # local queue full: let deliveries drain, then retry this message
                out.poll(0.05)
        out.poll(0)
    if out.flush(60) != 0:
        raise StreamError(f"{topic}: messages still unacknowledged after 60 s")


def preload_views(settings: Settings, events: int, movies: int, seed: int = 7) -> dict[str, int]:
    """Publishes `events` MovieViewed to the views topic and returns the ground truth per movie."""
    catalog = Catalog.bundled()
    chosen = zipf_movies(events, movies, seed)
    messages: list[tuple[str | None, bytes]] = [
        (m, view_payload(catalog, m, EPOCH_MS + i)) for i, m in enumerate(chosen)
    ]
    publish(settings, settings.views_topic, messages)
    return dict(Counter(chosen))


def stored_counts(settings: Settings) -> dict[str, int]:
    url = settings.pg_url("mv_writer", settings.pg_writer_password).replace(
        "postgresql+psycopg", "postgresql"
    )
    with psycopg.connect(url) as conn:
        return {movie: count for movie, count in conn.execute("SELECT movie_id, view_count FROM movie_stats")}


def wait_for_counts(settings: Settings, truth: dict[str, int], timeout_s: float) -> float:
    """Seconds until Postgres holds exactly `truth`; raises with the difference when the deadline passes."""
    start = time.monotonic()
    stored: dict[str, int] = {}
    while time.monotonic() - start < timeout_s:
        stored = stored_counts(settings)
        if stored == truth:
            return time.monotonic() - start
        time.sleep(POLL_S)
    wrong = {m: (stored.get(m), n) for m, n in truth.items() if stored.get(m) != n}
    raise StreamError(
        f"after {timeout_s:.0f}s, {len(wrong)} movies differ (stored, truth): {dict(list(wrong.items())[:5])}"
    )


def bench_throughput(
    settings: Settings, events: int, movies: int = 1_000, timeout_s: float = 600
) -> dict[str, Any]:
    """`settings` names an empty views topic and a fresh database; the job reads from the earliest offset."""
    truth = preload_views(settings, events, movies)
    config = JobConfig.from_settings(
        settings, name=f"bench-{uuid.uuid4().hex[:6]}", group_id=f"bench-{uuid.uuid4()}"
    )
    started = time.monotonic()
    job_id = launch.submit(settings, config)
    try:
        first_row = _wait_first_row(settings, started + timeout_s)
        exact = wait_for_counts(settings, truth, timeout_s) + (first_row - started)
    finally:
        flinkrest.cancel(settings, job_id)
    return {
        "events": events,
        "movies": len(truth),
        "seconds_to_exact_totals": round(exact, 2),
        "events_per_s": round(events / exact),
        "seconds_to_first_row": round(first_row - started, 2),
        "events_per_s_after_first_row": round(events / max(exact - (first_row - started), 1e-3)),
    }


def _wait_first_row(settings: Settings, deadline: float) -> float:
    while time.monotonic() < deadline:
        if stored_counts(settings):
            return time.monotonic()
        time.sleep(POLL_S)
    raise StreamError("no snapshot reached Postgres before the deadline")
