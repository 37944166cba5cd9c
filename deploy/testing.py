"""Helpers for tests, drills and benchmarks to check the job: hand-made events, and waiting until Postgres
holds exactly the per-movie truth. Bulk load comes from `ingest.loadgen.generate`, raw messages are published
with `ingest.publisher.publish_raw`."""

from __future__ import annotations

import time
import uuid

import psycopg

from deploy.settings import Settings
from readmodel.tables import movie_stats
from schemas.catalog import Catalog
from schemas.codec import encode
from schemas.subjects import VIEWED
from stream.errors import StreamError

EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: fixed so hand-made events are reproducible
# Polling Postgres more often than this only adds load to what is being measured.
POLL_S = 0.2


def view_payload(catalog: Catalog, movie_id: str, occurred_ms: int) -> bytes:
    record = {
        "event_id": str(uuid.uuid4()),
        "movie_id": movie_id,
        "user_id": None,
        "occurred_at": occurred_ms,
    }
    return encode(catalog, VIEWED, record, version=1)


def stored_counts(settings: Settings, table: str = movie_stats.name) -> dict[str, int]:
    with psycopg.connect(settings.writer_dsn) as conn:
        # `table` is a constant (the read model's current view, a slot's table, the benchmark's baseline),
        # never input.
        rows = conn.execute(f"SELECT movie_id, view_count FROM {table}")
        return {movie: count for movie, count in rows}


def wait_for_counts(
    settings: Settings, truth: dict[str, int], timeout_s: float, table: str = movie_stats.name
) -> float:
    """Seconds until `table` holds exactly `truth`; raises with the difference when the deadline passes."""
    start = time.monotonic()
    stored: dict[str, int] = {}
    while time.monotonic() - start < timeout_s:
        stored = stored_counts(settings, table)
        if stored == truth:
            return time.monotonic() - start
        time.sleep(POLL_S)
    wrong = {m: (stored.get(m), n) for m, n in truth.items() if stored.get(m) != n}
    raise StreamError(
        f"after {timeout_s:.0f}s, {len(wrong)} movies differ (stored, truth): {dict(list(wrong.items())[:5])}"
    )
