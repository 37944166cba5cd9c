"""Trending on the real stack: events with chosen occurred_at go through the job; each window's counts in
Postgres and in GraphQL equal the ground truth, also after the windows slide while the test runs."""

from __future__ import annotations

import random
import time
from collections import Counter

import psycopg
import pytest
from confluent_kafka import Producer
from support.events import view_payload

from deploy.settings import Settings
from deploy.testing import POLL_S, wait_for_counts
from readmodel.runtime import Runtime
from readmodel.schema import build_schema
from schemas.catalog import Catalog
from stream.errors import StreamError
from stream.taskmanager.trending import DAY, HOUR, MINUTE_MS, minute_of

# Job start on a busy machine, then the events and a few watermark idle timeouts.
DEADLINE_S = 240
MOVIES = [f"m-{n:02d}" for n in range(6)]
TRENDING = """query($window: TrendingWindow!, $limit: Int!) {
  trending(window: $window, limit: $limit) { windowEnd entries { rank movieId views } } }"""
Event = tuple[str, int]  # (movie id, occurred_at in epoch ms)


def publish(settings: Settings, events: list[Event]) -> None:
    """Kafka timestamp = occurred_at (what the ingest producers do), all on partition 0: the other
    partitions stay idle, so the watermark follows these events exactly."""
    catalog = Catalog.bundled()
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True})
    for movie, occurred in events:
        payload = view_payload(catalog, movie, occurred)
        producer.produce(settings.views_topic, payload, movie.encode(), partition=0, timestamp=occurred)
    assert producer.flush(60) == 0


def truth(events: list[Event], watermark_minute: int) -> dict[str, tuple[int, int]]:
    w = watermark_minute
    hour = Counter(m for m, at in events if w - HOUR < minute_of(at) <= w)
    day = Counter(m for m, at in events if w - DAY < minute_of(at) <= w)
    return {m: (hour[m], day[m]) for m in day}


def stored(settings: Settings) -> dict[str, tuple[int, int]]:
    query = "SELECT movie_id, hour_views, day_views FROM movie_trending WHERE day_views > 0"
    with psycopg.connect(settings.writer_dsn) as conn:
        return {movie: (hour, day) for movie, hour, day in conn.execute(query)}


def wait_for_trending(settings: Settings, expected: dict[str, tuple[int, int]]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    seen: dict[str, tuple[int, int]] = {}
    while time.monotonic() < deadline:
        seen = stored(settings)
        if seen == expected:
            return
        time.sleep(POLL_S)
    raise StreamError(f"trending (hour, day) per movie: stored {seen}, truth {expected}")


def at(minute: int, second: int = 0) -> int:
    return minute * MINUTE_MS + second * 1000


@pytest.mark.anyio
async def test_trending_windows_equal_the_ground_truth_while_they_slide(isolated: Settings, job: str) -> None:
    rng = random.Random(13)
    now = minute_of(int(time.time() * 1000))
    # Views over the last three hours, a few older than a day (never trending), and the newest at `now`.
    events = [(rng.choice(MOVIES), at(now - rng.randint(0, 180), rng.randint(0, 59))) for _ in range(400)]
    events += [("m-00", at(now - DAY - 30)), ("m-05", at(now - DAY - 1))]
    events.sort(key=lambda event: event[1])
    events.append(("m-01", at(now, 30)))
    publish(isolated, events)
    # The watermark ends at the newest timestamp (less a second): the windows end at minute `now`.
    wait_for_trending(isolated, truth(events, now))

    # The hour slides 25 minutes while the test runs; a view 20 minutes behind the new watermark still
    # counts in both windows, one more than a day behind counts in neither.
    later = [
        ("m-02", at(now + 25, 10)),
        ("m-03", at(now + 5)),
        ("m-04", at(now + 25 - DAY - 2)),
        ("m-02", at(now + 25, 40)),
    ]
    publish(isolated, later)
    events += later
    expected = truth(events, now + 25)
    assert expected != truth(events, now)  # the slide changed the answer
    wait_for_trending(isolated, expected)

    # Every view, on time or not, is in the all-time count.
    wait_for_counts(isolated, dict(Counter(m for m, _ in events)), DEADLINE_S)
    runtime = Runtime(isolated)
    await runtime.start()
    try:
        for window, index in (("HOUR", 0), ("DAY", 1)):
            result = await build_schema().execute(
                TRENDING, variable_values={"window": window, "limit": 3}, context_value=runtime.context
            )
            assert result.errors is None, result.errors
            ranked = sorted(((-views[index], m) for m, views in expected.items() if views[index]))[:3]
            entries = result.data["trending"]["entries"]  # type: ignore[index]
            assert [(e["movieId"], e["views"]) for e in entries] == [(m, -v) for v, m in ranked]
    finally:
        await runtime.stop()
