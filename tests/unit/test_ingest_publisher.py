from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

import ingest.publisher as publisher_module
from ground.kafka import KafkaAccess
from ingest.errors import PublishError, ValidationError
from ingest.events import MovieRegistered, MovieViewed
from ingest.publisher import AsyncPublisher, Publisher
from schemas.catalog import Catalog
from schemas.codec import decode


class FakeMessage:
    def __init__(
        self, topic: str, key: bytes, value: bytes, headers: list, partition: int, offset: int
    ) -> None:
        self._topic, self._key, self._value, self._headers = topic, key, value, headers
        self._partition, self._offset = partition, offset

    def topic(self) -> str:
        return self._topic

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value

    def headers(self) -> list:
        return self._headers

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset


class FakeProducer:
    """Acknowledges everything on the next poll, unless told to fail or to stay silent."""

    instances: ClassVar[list[FakeProducer]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.pending: list[tuple[FakeMessage, Any]] = []
        self.messages: list[FakeMessage] = []
        self.fail_with: str | None = None
        self.silent = False
        FakeProducer.instances.append(self)

    def produce(
        self, topic: str, value: Any = None, key: Any = None, headers: Any = None, on_delivery: Any = None
    ) -> None:
        message = FakeMessage(topic, key, value, headers, 0, len(self.messages))
        self.messages.append(message)
        self.pending.append((message, on_delivery or self.config.get("on_delivery")))

    def poll(self, timeout: float = 0) -> int:
        if self.silent:
            return 0
        served, self.pending = self.pending, []
        for message, callback in served:
            if callback is not None:
                callback(self.fail_with, message)
        return len(served)

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return len(self.pending)

    def __len__(self) -> int:
        return len(self.pending)


@pytest.fixture
def fake_kafka(monkeypatch: pytest.MonkeyPatch) -> type[FakeProducer]:
    FakeProducer.instances = []
    monkeypatch.setattr(publisher_module, "Producer", FakeProducer)
    monkeypatch.setattr(publisher_module, "ensure_topics", lambda kafka, specs, timeout_s: [])
    return FakeProducer


def make(**kwargs: Any) -> Publisher:
    return Publisher(KafkaAccess("broker:9092"), "views", "movies", "schemas", **kwargs)


def event_messages(producer: FakeProducer) -> list[FakeMessage]:
    return [m for m in producer.messages if m.topic() != "schemas"]


def test_idempotent_acks_all_and_overrides(fake_kafka: type[FakeProducer]) -> None:
    make(linger_ms=20, config={"client.id": "x"})
    config = fake_kafka.instances[0].config
    assert config["enable.idempotence"] is True and config["acks"] == "all"
    assert config["linger.ms"] == 20 and config["client.id"] == "x"
    assert config["bootstrap.servers"] == "broker:9092"


def test_publish_wait_keys_by_movie_with_headers_and_registers_the_schema_first(
    fake_kafka: type[FakeProducer],
) -> None:
    publisher = make()
    view = MovieViewed.new("m-7", user_id="u-1", device="tv")
    delivery = publisher.publish_wait(view, timeout=1)
    producer = fake_kafka.instances[0]
    schema_message, message = producer.messages
    assert schema_message.topic() == "schemas"
    fingerprint = Catalog.bundled().version(MovieViewed.SUBJECT, 2).fingerprint
    assert schema_message.key() == fingerprint.hex()
    assert message.topic() == "views" and message.key() == b"m-7"
    assert dict(message.headers()) == {
        "event-type": b"movieviews.events.MovieViewed",
        "schema-fingerprint": fingerprint.hex().encode(),
    }
    decoded = decode(Catalog.bundled(), message.value(), logical=False)
    assert decoded.record["event_id"] == view.event_id and decoded.record["device"] == "tv"
    assert delivery.event_id == view.event_id and delivery.topic == "views" and delivery.offset == 1
    assert delivery.acknowledged_at.tzinfo is not None
    publisher.publish_wait(MovieViewed.new("m-8"), timeout=1)
    assert len([m for m in producer.messages if m.topic() == "schemas"]) == 1  # registered once


def test_registrations_go_to_the_movies_topic(fake_kafka: type[FakeProducer]) -> None:
    publisher = make()
    publisher.publish_wait(MovieRegistered.new("m-1", "Alien", 1979, "sci-fi"), timeout=1)
    (message,) = event_messages(fake_kafka.instances[0])
    assert message.topic() == "movies" and message.key() == b"m-1"


def test_pinned_v1_writer(fake_kafka: type[FakeProducer]) -> None:
    publisher = make(versions={MovieViewed.SUBJECT: 1})
    publisher.publish_wait(MovieViewed.new("m-1"), timeout=1)
    (message,) = event_messages(fake_kafka.instances[0])
    assert (
        decode(Catalog.bundled(), message.value()).fingerprint
        == Catalog.bundled().version(MovieViewed.SUBJECT, 1).fingerprint
    )
    with pytest.raises(ValidationError, match="device"):
        publisher.publish(MovieViewed.new("m-1", device="tv"))
    assert len(event_messages(fake_kafka.instances[0])) == 1  # nothing published


def test_a_broker_error_is_a_publish_error(fake_kafka: type[FakeProducer]) -> None:
    publisher = make()
    publisher.ensure_registered(publisher.writer(MovieViewed.SUBJECT))
    fake_kafka.instances[0].fail_with = "Broker: Not enough in-sync replicas"
    with pytest.raises(PublishError, match="in-sync"):
        publisher.publish_wait(MovieViewed.new("m-1"), timeout=1)


def test_no_ack_within_the_timeout_is_a_publish_error(fake_kafka: type[FakeProducer]) -> None:
    publisher = make()
    publisher.ensure_registered(publisher.writer(MovieViewed.SUBJECT))
    fake_kafka.instances[0].silent = True
    with pytest.raises(PublishError, match=r"within 0\.1s"):
        publisher.publish_wait(MovieViewed.new("m-1"), timeout=0.1)


def test_schema_registration_failure_publishes_nothing(
    fake_kafka: type[FakeProducer], monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = make()
    fake_kafka.instances[0].silent = True
    monkeypatch.setattr(publisher_module, "REGISTER_TIMEOUT_S", 0.05)
    with pytest.raises(PublishError, match="cannot register"):
        publisher.publish(MovieViewed.new("m-1"))
    assert event_messages(fake_kafka.instances[0]) == []


def test_context_manager_flushes(fake_kafka: type[FakeProducer]) -> None:
    acks: list[Any] = []
    with make() as publisher:
        publisher.ensure_registered(publisher.writer(MovieViewed.SUBJECT))
        fake_kafka.instances[0].silent = True
        publisher.publish(MovieViewed.new("m-1"), on_delivery=lambda err, d: acks.append((err, d)))
        fake_kafka.instances[0].silent = False
    assert len(acks) == 1 and acks[0][0] is None


def test_async_publisher_resolves_on_the_broker_ack(fake_kafka: type[FakeProducer]) -> None:
    async def scenario() -> None:
        publisher = AsyncPublisher(KafkaAccess("broker:9092"), "views", "movies", "schemas")
        publisher.start()
        try:
            view = MovieViewed.new("m-1")
            delivery = await publisher.publish(view, timeout=2)
            assert delivery.event_id == view.event_id
            assert delivery.acknowledged_at <= datetime.now(UTC)
            fake_kafka.instances[0].fail_with = "Broker: Request timed out"
            with pytest.raises(PublishError, match="timed out"):
                await publisher.publish(MovieViewed.new("m-2"), timeout=2)
            fake_kafka.instances[0].silent = True
            with pytest.raises(PublishError, match="not acknowledged"):
                await publisher.publish(MovieViewed.new("m-3"), timeout=0.1)
            fake_kafka.instances[0].silent = False
        finally:
            publisher.close()

    asyncio.run(scenario())
