"""Waiting until Postgres holds exactly the per-movie truth, and reading back what a topic holds, for tests,
drills and benchmarks. Bulk load comes from `ingest.loadgen.generate`, raw messages are published with
`ingest.publisher.publish_raw`."""

from __future__ import annotations

import time
import uuid

import psycopg
from confluent_kafka import Consumer, Message

from deploy.settings import Settings
from deploy.wait import wait_until
from ground.kafka import KafkaAccess, client_config
from readmodel.tables import movie_stats
from stream.errors import StreamError

# Polling Postgres more often than this only adds load to what is being measured.
POLL_S = 0.2
# And a poll waits this many times its own duration: at a million movies the totals take ~0.1 s and the
# whole table ~2 s (most of it the client's CPU), so polling every 0.2 s would take
# about a core from the job being timed; this keeps the poller under a tenth of one.
POLL_WAIT_RATIO = 9


def stored_counts(settings: Settings, table: str = movie_stats.name) -> dict[str, int]:
    with psycopg.connect(settings.writer_dsn) as conn:
        # `table` is a constant (the read model's current view, a slot's table, the benchmark's baseline),
        # never input.
        rows = conn.execute(f"SELECT movie_id, view_count FROM {table}")
        return {movie: count for movie, count in rows}


def stored_totals(settings: Settings, table: str = movie_stats.name) -> tuple[int, int]:
    """The movies in `table` and their views summed: one row from Postgres, whatever the table's size."""
    with psycopg.connect(settings.writer_dsn) as conn:
        row = conn.execute(f"SELECT count(*), COALESCE(sum(view_count), 0) FROM {table}").fetchone()
        assert row is not None  # an aggregate without GROUP BY always returns its row
        return int(row[0]), int(row[1])


def wait_for_counts(
    settings: Settings, truth: dict[str, int], timeout_s: float, table: str = movie_stats.name
) -> float:
    """Seconds until `table` holds exactly `truth`; raises with the difference when the deadline passes.
    Compares the whole table only once its movie count and total match the truth's."""
    start = time.monotonic()
    want = (len(truth), sum(truth.values()))
    while time.monotonic() - start < timeout_s:
        polled = time.monotonic()
        if stored_totals(settings, table) == want and stored_counts(settings, table) == truth:
            return time.monotonic() - start
        time.sleep(max(POLL_S, POLL_WAIT_RATIO * (time.monotonic() - polled)))
    stored = stored_counts(settings, table)
    wrong = {m: (stored.get(m), n) for m, n in truth.items() if stored.get(m) != n}
    raise StreamError(
        f"after {timeout_s:.0f}s, {len(wrong)} movies differ (stored, truth): {dict(list(wrong.items())[:5])}"
    )


# Messages one consume call hands over at most: a 30,000-event topic is read back in a few calls.
READ_BATCH = 10_000


def read_from_start(
    kafka: KafkaAccess, topic: str, expected: int, timeout_s: float, settle_s: float = 0.0
) -> list[Message]:
    """The messages of `topic` from its start, read by a consumer group of its own until at least `expected`
    came (each partition's in order); raises NotReadyError when fewer came within `timeout_s`. `settle_s`:
    reads on that much longer, so a message that should not be there (a duplicate) is among those returned."""
    consumer = Consumer(
        client_config(
            kafka,
            **{
                "group.id": f"read-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            },
        )
    )
    consumer.subscribe([topic])
    read: list[Message] = []

    def enough() -> bool:
        read.extend(message for message in consumer.consume(READ_BATCH, 0.5) if message.error() is None)
        return len(read) >= expected

    try:
        wait_until(enough, timeout_s, f"{expected} messages of {topic}", interval_s=0)
        settled = time.monotonic() + settle_s
        while time.monotonic() < settled:
            enough()
    finally:
        consumer.close()
    return read
