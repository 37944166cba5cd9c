"""The run-time shared catalog: a compacted Kafka topic of writer schemas, key = fingerprint hex.

A producer registers its writer schema there (acks=all) before the first event written with it, so a
consumer that meets an unknown fingerprint finds the schema by reading the topic to its end (the "producer
first" order).
"""

from __future__ import annotations

import time
from typing import Any

# Through the module: confluent-kafka's classes say they are `cimpl`'s, a name no interpreter can import, so
# cloudpickle, shipping this module by value with the job (stream.job.SHIPPED), would copy a class named
# directly here by value too, and the copy does not rebuild.
import confluent_kafka

from ground.kafka import KafkaAccess, client_config
from schemas.catalog import SchemaVersion, load_schema
from schemas.errors import SchemaError

# Schemas are tiny and few: one partition keeps them in one ordered log; compacted, so the latest value per
# fingerprint stays forever. Created by `ingest.topics` (the publisher before its first registration, `up`).
SCHEMAS_TOPIC_PARTITIONS = 1
SCHEMAS_TOPIC_CONFIG = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}


class RegistryError(SchemaError):
    """The run-time schema topic could not be created, written or read."""


def register(producer: Any, topic: str, entry: SchemaVersion, timeout: float) -> None:
    """Write one schema and wait for the broker's ack: no event may name a schema that is not durable yet."""
    failures: list[Any] = []
    producer.produce(
        topic,
        key=entry.fingerprint.hex(),
        value=entry.json,
        on_delivery=lambda err, _msg: failures.append(err) if err is not None else None,
    )
    # flush, not the callback, tells success: a producer may have success reports switched off.
    unresolved = producer.flush(timeout)
    if unresolved or failures:
        reason = failures[0] if failures else f"no ack within {timeout}s"
        raise RegistryError(
            f"cannot register {entry.subject} {entry.fingerprint.hex()} in {topic!r}: {reason}"
        )


class KafkaSchemaResolver:
    """fingerprint -> schema JSON, from the schema topic read to its end; keeps what it read between calls."""

    def __init__(self, kafka: KafkaAccess, topic: str, timeout: float = 5.0) -> None:
        self._topic = topic
        self._timeout = timeout
        self._known: dict[bytes, str] = {}
        self._consumer = confluent_kafka.Consumer(
            client_config(
                kafka,
                **{
                    # Required by the client; offsets are never committed, every process reads from the start.
                    "group.id": "movieviews-schema-resolver",
                    "enable.auto.commit": False,
                    "enable.partition.eof": False,
                },
            )
        )
        self._assigned = False

    def __call__(self, fingerprint: bytes) -> str | None:
        if fingerprint not in self._known:
            self._catch_up()
        return self._known.get(fingerprint)

    def close(self) -> None:
        self._consumer.close()

    def _catch_up(self) -> None:
        deadline = time.monotonic() + self._timeout
        try:
            partitions = self._partitions()
            if not partitions:
                return
            ends = {
                p: self._consumer.get_watermark_offsets(
                    confluent_kafka.TopicPartition(self._topic, p), self._timeout
                )[1]
                for p in partitions
            }
            while time.monotonic() < deadline and not self._reached(ends):
                message = self._consumer.poll(0.1)
                if message is not None and message.error() is None:
                    self._learn(message.value())
        except confluent_kafka.KafkaException as exc:
            raise RegistryError(f"cannot read schema topic {self._topic!r}: {exc}") from exc

    def _partitions(self) -> list[int]:
        if not self._assigned:
            metadata = self._consumer.list_topics(self._topic, timeout=self._timeout).topics.get(self._topic)
            if metadata is None or metadata.error is not None:
                return []
            self._consumer.assign(
                [
                    confluent_kafka.TopicPartition(self._topic, p, -2) for p in metadata.partitions
                ]  # -2: from the beginning
            )
            self._assigned = True
        return [tp.partition for tp in self._consumer.assignment()]

    def _reached(self, ends: dict[int, int]) -> bool:
        positions = self._consumer.position([confluent_kafka.TopicPartition(self._topic, p) for p in ends])
        return all(tp.offset >= ends[tp.partition] or ends[tp.partition] == 0 for tp in positions)

    def _learn(self, value: bytes | None) -> None:
        if value is None:
            return
        try:
            entry = load_schema(value.decode("utf-8"))
        except (SchemaError, UnicodeDecodeError):
            return  # not a schema: the fingerprint it claims is simply not learnt
        self._known[entry.fingerprint] = entry.json
