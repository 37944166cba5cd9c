"""Publish events to Kafka: validated, single-object Avro, keyed by movie id, acknowledged by all replicas.

`Publisher` is for scripts and threads; `AsyncPublisher` wraps it for asyncio (the GraphQL API), with a
background thread serving delivery reports and resolving futures on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any, Protocol

from confluent_kafka import KafkaException, Producer

from ground.kafka import KafkaAccess, client_config
from ingest.errors import PublishError, TopicError, ValidationError
from ingest.events import Event, MovieRegistered, MovieViewed, now_utc
from ingest.topics import TopicSpec, ensure_topics
from schemas.catalog import Catalog, SchemaVersion
from schemas.codec import encode
from schemas.errors import EncodeError, SchemaError
from schemas.registry import SCHEMAS_TOPIC_CONFIG, SCHEMAS_TOPIC_PARTITIONS, register

PRODUCER_DEFAULTS: dict[str, Any] = {
    # Retries never duplicate or reorder events within a partition; requires acks=all.
    "enable.idempotence": True,
    "acks": "all",
    # A request-driven caller waits for its ack: 5 ms of batching is invisible next to a request round trip.
    "linger.ms": 5,
    # Bounds how long an event can stay "maybe sent": after this it is reported failed, not retried forever.
    "message.timeout.ms": 30_000,
}
# Registering a schema is a one-off write per writer version; allow a broker leader election.
REGISTER_TIMEOUT_S = 10.0
# How long `publish` waits for room when librdkafka's local queue is full before reporting failure.
QUEUE_FULL_WAIT_S = 1.0
_POLL_INTERVAL_S = 0.05

Headers = list[tuple[str, str | bytes | None]]
DeliveryCallback = Callable[[PublishError | None, "Delivery | None"], None]
Settled = tuple["asyncio.Future[Delivery]", PublishError | None, "Delivery | None"]


class KafkaSettings(Protocol):
    """Where events go: what a publisher needs to know, declared here and provided by `deploy`'s settings."""

    @property
    def kafka_api(self) -> KafkaAccess:
        """The producers' principal."""
        ...

    @property
    def views_topic(self) -> str: ...

    @property
    def movies_topic(self) -> str: ...

    @property
    def schemas_topic(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    topic: str
    partition: int
    offset: int
    event_id: str
    acknowledged_at: datetime


def producer_config(kafka: KafkaAccess, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """librdkafka keys are dotted; keyword overrides spell them with underscores (linger_ms=20)."""
    return client_config(
        kafka, **{**PRODUCER_DEFAULTS, **{k.replace("_", "."): v for k, v in overrides.items()}}
    )


class Publisher:
    def __init__(
        self,
        kafka: KafkaAccess,
        views_topic: str,
        movies_topic: str,
        schemas_topic: str,
        *,
        catalog: Catalog | None = None,
        versions: Mapping[str, int] | None = None,
        config: Mapping[str, Any] | None = None,
        **producer_overrides: Any,
    ) -> None:
        """`producer_overrides` spell librdkafka keys with underscores; `config` takes any key as is."""
        self._kafka = kafka
        self._catalog = catalog or Catalog.bundled()
        self._topics = {MovieViewed.SUBJECT: views_topic, MovieRegistered.SUBJECT: movies_topic}
        self._schemas_topic = schemas_topic
        # Writer version per subject, pinned while consumers still run an older reader; default latest.
        self._versions = dict(versions or {})
        self._registered: set[bytes] = set()
        self._register_lock = threading.Lock()
        self._producer = Producer({**producer_config(kafka, producer_overrides), **(config or {})})

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.flush()

    def publish(self, event: Event, on_delivery: DeliveryCallback | None = None) -> None:
        """Queue the event; `on_delivery` runs from a later poll()/flush() with the broker's answer."""
        self.queue(event, on_delivery)
        self._producer.poll(0)

    def queue(self, event: Event, on_delivery: DeliveryCallback | None = None) -> None:
        """`publish` without serving delivery reports here: for callers whose reports a poll thread serves."""
        value, headers, entry = self._encode(event)
        self.ensure_registered(entry)
        callback = partial(_report, event.event_id, on_delivery) if on_delivery is not None else None
        self.produce(self._topics[entry.subject], event.key.encode(), value, headers, callback)

    def publish_wait(self, event: Event, timeout: float) -> Delivery:
        """Publish and block until acknowledged; a PublishError after a timeout means "outcome unknown"."""
        outcome: list[tuple[PublishError | None, Delivery | None]] = []
        self.publish(event, on_delivery=lambda err, delivery: outcome.append((err, delivery)))
        deadline = time.monotonic() + timeout
        while not outcome and time.monotonic() < deadline:
            self._producer.poll(_POLL_INTERVAL_S)
        if not outcome:
            raise PublishError(f"event {event.event_id} not acknowledged within {timeout}s")
        err, delivery = outcome[0]
        if err is not None:
            raise err
        if delivery is None:  # a report carries an error or a delivery; neither is a librdkafka bug
            raise PublishError(f"event {event.event_id}: delivery report with neither error nor delivery")
        return delivery

    def produce(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: Headers,
        callback: Callable[[Any, Any], None] | None,
    ) -> None:
        """The raw path, for pre-encoded values (load generator); waits briefly when the queue is full."""
        for attempt in range(2):
            try:
                self._producer.produce(topic, value, key, headers=headers, on_delivery=callback)
                return
            except BufferError as exc:
                if attempt:
                    raise PublishError(f"local producer queue full for {QUEUE_FULL_WAIT_S}s") from exc
                self._producer.poll(QUEUE_FULL_WAIT_S)
            except KafkaException as exc:
                raise PublishError(f"cannot produce to {topic!r}: {exc}") from exc

    def poll(self, timeout: float = 0.0) -> int:
        return int(self._producer.poll(timeout))

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for every queued event's delivery report; returns how many are still unresolved."""
        return int(self._producer.flush(timeout))

    @property
    def producer(self) -> Any:
        """The confluent-kafka producer, for hot loops that cannot afford a wrapper call per event."""
        return self._producer

    def __len__(self) -> int:
        return len(self._producer)

    def writer(self, subject: str) -> SchemaVersion:
        return self._catalog.version(subject, self._versions.get(subject))

    def headers(self, entry: SchemaVersion) -> Headers:
        return [
            ("event-type", entry.subject.encode()),
            ("schema-fingerprint", entry.fingerprint.hex().encode()),
        ]

    def is_registered(self, entry: SchemaVersion) -> bool:
        return entry.fingerprint in self._registered

    def ensure_registered(self, entry: SchemaVersion) -> None:
        """Before the first event written with a schema, the schema is durable in the shared schema topic."""
        if entry.fingerprint in self._registered:
            return
        with self._register_lock:
            if entry.fingerprint in self._registered:
                return
            try:
                # On a secured cluster topics are the admin principal's (`up` made this one): a producer
                # may neither create a topic nor read its configuration.
                if not self._registered and not self._kafka.secured:
                    spec = TopicSpec(self._schemas_topic, SCHEMAS_TOPIC_PARTITIONS, SCHEMAS_TOPIC_CONFIG)
                    ensure_topics(self._kafka, [spec], REGISTER_TIMEOUT_S)
                register(self._producer, self._schemas_topic, entry, REGISTER_TIMEOUT_S)
            except (SchemaError, TopicError) as exc:
                raise PublishError(str(exc)) from exc
            self._registered.add(entry.fingerprint)

    def _encode(self, event: Event) -> tuple[bytes, Headers, SchemaVersion]:
        entry = self.writer(event.SUBJECT)
        record = event.to_record()
        for name in record.keys() - entry.field_names:
            if record.pop(name) is not None:
                raise ValidationError(
                    name, getattr(event, name), f"is not in {entry.subject} v{entry.version}"
                )
        try:
            value = encode(self._catalog, entry.subject, record, entry.version)
        except EncodeError as exc:
            raise ValidationError(
                "event", event, f"must fit {entry.subject} v{entry.version}: {exc}"
            ) from exc
        return value, self.headers(entry), entry


def _report(event_id: str, callback: DeliveryCallback, err: Any, msg: Any) -> None:
    if err is not None:
        callback(PublishError(f"event {event_id} to {msg.topic()!r} failed: {err}"), None)
    else:
        callback(None, Delivery(msg.topic(), msg.partition(), msg.offset(), event_id, now_utc()))


# The API's producer sends at once: a request waits for its own acknowledgement, so any linger is added to
# every recordView (1 client: p50 6.7 ms with linger.ms 5). Under concurrency librdkafka still batches, with
# the messages that arrive while earlier produce requests are in flight.
ACK_LINGER_MS = 0


class AsyncPublisher:
    """`await publish(event, timeout)` resolves once the broker acknowledged the event.

    One thread serves delivery reports and hands each poll's worth to the event loop in one call: one wake-up
    of the loop per batch of acknowledgements, not one per event."""

    def __init__(
        self, kafka: KafkaAccess, views_topic: str, movies_topic: str, schemas_topic: str, **kwargs: Any
    ) -> None:
        kwargs.setdefault("linger_ms", ACK_LINGER_MS)
        self._publisher = Publisher(kafka, views_topic, movies_topic, schemas_topic, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Filled by delivery reports (served on the poll thread), emptied by `_hand_over`.
        self._settled: deque[Settled] = deque()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve_reports, name="publisher-poll", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._publisher.flush(timeout)
        self._hand_over()

    async def publish(self, event: Event, timeout: float) -> Delivery:
        loop = asyncio.get_running_loop()
        entry = self._publisher.writer(event.SUBJECT)
        if not self._publisher.is_registered(entry):
            # Once per writer schema and process: a blocking broker round trip, kept off the event loop.
            await asyncio.wait_for(
                loop.run_in_executor(None, self._publisher.ensure_registered, entry), timeout
            )
        future: asyncio.Future[Delivery] = loop.create_future()
        settled = self._settled

        def settle(err: PublishError | None, delivery: Delivery | None) -> None:
            settled.append((future, err, delivery))

        self._publisher.queue(event, on_delivery=settle)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise PublishError(f"event {event.event_id} not acknowledged within {timeout}s") from None

    def _serve_reports(self) -> None:
        while not self._stop.is_set():
            self._publisher.poll(_POLL_INTERVAL_S)
            self._hand_over()

    def _hand_over(self) -> None:
        batches: dict[asyncio.AbstractEventLoop, list[Settled]] = {}
        while self._settled:
            item = self._settled.popleft()
            batches.setdefault(item[0].get_loop(), []).append(item)
        for loop, batch in batches.items():
            with contextlib.suppress(RuntimeError):  # a loop closed while its last events were in flight
                loop.call_soon_threadsafe(_resolve, batch)


def _resolve(batch: list[Settled]) -> None:
    for future, err, delivery in batch:
        if future.done():  # the caller timed out and cancelled it
            continue
        if err is not None:
            future.set_exception(err)
        elif delivery is not None:
            future.set_result(delivery)


# linger.ms 20: batches of a few thousand small messages; the idempotent producer keeps per-partition order.
RAW_LINGER_MS = 20
RAW_FLUSH_TIMEOUT_S = 60


def publish_raw(kafka: KafkaAccess, topic: str, messages: list[tuple[str | None, bytes]]) -> None:
    """Already-encoded messages as they are (a dead-letter replay, hand-made test events), key as given."""
    out = Producer(producer_config(kafka, {"linger_ms": RAW_LINGER_MS}))
    for key, value in messages:
        while True:
            try:
                out.produce(topic, key=None if key is None else key.encode(), value=value)
                break
            except BufferError:  # local queue full: let deliveries drain, then retry this message
                out.poll(_POLL_INTERVAL_S)
        out.poll(0)
    if out.flush(RAW_FLUSH_TIMEOUT_S) != 0:
        raise PublishError(f"{topic}: messages still unacknowledged after {RAW_FLUSH_TIMEOUT_S} s")
