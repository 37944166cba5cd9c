"""Publisher, load generator and run-time schema catalog against the real broker."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from deploy.settings import Settings
from deploy.testing import read_from_start
from ingest.errors import PublishError
from ingest.events import MovieRegistered, MovieViewed
from ingest.loadgen import generate
from ingest.publisher import AsyncPublisher, Publisher
from schemas.catalog import Catalog
from schemas.codec import decode
from schemas.errors import UnknownSchemaError
from schemas.registry import KafkaSchemaResolver
from schemas.subjects import VIEWED

# What a test waits for the messages it published to be read back.
READ_S = 30


@pytest.fixture
def topics(stack: Settings, topic_factory: Callable[..., str]) -> Settings:
    return dataclasses.replace(
        stack,
        views_topic=topic_factory("ingest-views", 4),
        movies_topic=topic_factory("ingest-movies", 1),
        schemas_topic=topic_factory("ingest-schemas", 1),
    )


def publisher_for(settings: Settings, **kwargs: Any) -> Publisher:
    return Publisher(
        settings.kafka_api,
        settings.views_topic,
        settings.movies_topic,
        settings.schemas_topic,
        **kwargs,
    )


def test_published_events_come_back_with_key_headers_and_value(topics: Settings) -> None:
    catalog = Catalog.bundled()
    view = MovieViewed.new("m-42", user_id="u-1", device="tv", country="NL", watch_seconds=60)
    movie = MovieRegistered.new("m-42", "Alien", 1979, "sci-fi")
    with publisher_for(topics) as publisher:
        delivery = publisher.publish_wait(view, timeout=10)
        publisher.publish_wait(movie, timeout=10)
    (message,) = read_from_start(topics.kafka_admin, topics.views_topic, 1, READ_S)
    assert (message.partition(), message.offset()) == (delivery.partition, delivery.offset)
    assert message.key() == b"m-42"
    fingerprint = catalog.version(VIEWED, 2).fingerprint
    assert dict(message.headers()) == {
        "event-type": VIEWED.encode(),
        "schema-fingerprint": fingerprint.hex().encode(),
    }
    decoded = decode(catalog, message.value(), logical=False)
    assert decoded.record["event_id"] == view.event_id and decoded.record["watch_seconds"] == 60
    (registered,) = read_from_start(topics.kafka_admin, topics.movies_topic, 1, READ_S)
    assert decode(catalog, registered.value()).record["title"] == "Alien"
    schemas = read_from_start(topics.kafka_admin, topics.schemas_topic, 2, READ_S)
    registered_fingerprint = catalog.version("movieviews.events.MovieRegistered", 1).fingerprint
    assert {m.key() for m in schemas} == {fingerprint.hex().encode(), registered_fingerprint.hex().encode()}


def test_load_generator_truth_matches_what_the_topic_holds(topics: Settings) -> None:
    result = generate(topics, events=30_000, movies=100, v2_share=0.3, seed=5)
    assert result.acknowledged == result.sent == 30_000 and result.failed == 0
    messages = read_from_start(topics.kafka_admin, topics.views_topic, 30_000, READ_S)
    catalog = Catalog.bundled()
    counts = Counter(decode(catalog, m.value(), logical=False).record["movie_id"] for m in messages)
    assert counts == Counter(result.per_movie)
    assert all(m.key().decode() in result.per_movie for m in messages)


def test_producer_first_a_reader_that_never_saw_v2_finds_it_in_the_schema_topic(topics: Settings) -> None:
    bundled = Catalog.bundled()
    with publisher_for(topics) as publisher:
        publisher.publish_wait(MovieViewed.new("m-1", device="tv"), timeout=10)
    (message,) = read_from_start(topics.kafka_admin, topics.views_topic, 1, READ_S)

    old_reader = Catalog()
    old_reader.add(bundled.version(VIEWED, 1).schema, version=1)
    with pytest.raises(UnknownSchemaError):
        decode(old_reader, message.value())

    resolver = KafkaSchemaResolver(topics.kafka_admin, topics.schemas_topic)
    try:
        old_job = Catalog(resolver=resolver)
        old_job.add(bundled.version(VIEWED, 1).schema, version=1)
        decoded = decode(old_job, message.value(), logical=False)
        assert decoded.record["movie_id"] == "m-1" and "device" not in decoded.record  # read as v1
        assert resolver(b"\x00" * 8) is None  # a schema nobody registered stays unknown
    finally:
        resolver.close()


def test_async_publisher_acknowledges(topics: Settings) -> None:
    async def scenario() -> None:
        publisher = AsyncPublisher(
            topics.kafka_api, topics.views_topic, topics.movies_topic, topics.schemas_topic
        )
        publisher.start()
        try:
            deliveries = await asyncio.gather(
                *(publisher.publish(MovieViewed.new(f"m-{i}"), 10) for i in range(50))
            )
        finally:
            publisher.close()
        assert len({d.event_id for d in deliveries}) == 50
        assert all(d.topic == topics.views_topic for d in deliveries)

    asyncio.run(scenario())
    assert len(read_from_start(topics.kafka_admin, topics.views_topic, 50, READ_S)) == 50


def test_a_missing_topic_is_a_publish_error_not_a_hang(topics: Settings) -> None:
    missing = dataclasses.replace(topics, views_topic=f"missing-{uuid.uuid4().hex[:8]}")
    publisher = publisher_for(missing, message_timeout_ms=2000)
    with pytest.raises(PublishError):
        publisher.publish_wait(MovieViewed.new("m-1"), timeout=1)
    publisher.flush(5)
