"""The stack is real: a broker that stores and returns messages, a Flink cluster that runs jobs."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

from confluent_kafka import Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from deploy import stack as stack_module
from deploy.kafka import broker
from deploy.settings import Settings
from deploy.testing import read_from_start
from deploy.wait import wait_until
from ingest.topics import ensure_topics, topic_configs
from stream import flinkrest


def test_status_reports_every_component_healthy(stack: Settings) -> None:
    health = {h.component: h for h in stack_module.status(stack)}
    assert set(health) == {"kafka", "retention", "flink", "postgres", "prometheus"}
    assert all(h.ok for h in health.values()), health


def test_message_round_trips_through_the_broker(stack: Settings, topic_factory: Callable[..., str]) -> None:
    topic = topic_factory("roundtrip", 1)
    payload = uuid.uuid4().bytes
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap, "enable.idempotence": True})
    delivered: list[object] = []
    producer.produce(
        topic,
        key=b"m-1",
        value=payload,
        headers={"h": b"v"},
        on_delivery=lambda err, msg: delivered.append(err or msg),
    )
    assert producer.flush(30) == 0
    (received,) = read_from_start(stack.kafka_admin, topic, 1, 30)
    assert (received.key(), received.value(), received.headers()) == (b"m-1", payload, [("h", b"v")])


def test_cluster_has_a_taskmanager_with_free_slots(stack: Settings) -> None:
    info = flinkrest.overview(stack)
    assert info is not None
    assert info["taskmanagers"] >= 1
    assert info["slots-total"] >= 2


def test_up_corrects_an_event_topic_that_would_lose_events_after_a_week(
    stack: Settings, topic_factory: Callable[..., str]
) -> None:
    views = dataclasses.replace(stack, views_topic=topic_factory("views", 4))

    def topic_config(name: str) -> dict[str, str]:
        return topic_configs(views.kafka_admin, [name])[name]

    client = broker.admin(views)
    [spec] = [t for t in broker.topics(views) if t.name == views.views_topic]
    week = ConfigEntry("retention.ms", "604800000", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, views.views_topic, incremental_configs=[week])
    client.incremental_alter_configs([resource])[resource].result(30)
    # KRaft applies a config change through its metadata log: the answer comes before every reader sees it.
    wait_until(lambda: topic_config(views.views_topic)["retention.ms"] == "604800000", 30, "a week")

    assert ensure_topics(views.kafka_admin, [spec]) == [f"{views.views_topic}: retention.ms=-1"]
    # The correction goes through the same metadata log, so poll for it rather than read once.
    forever = ("-1", "-1", "delete")

    def kept_forever() -> bool:
        config = topic_config(views.views_topic)
        return (config["retention.ms"], config["retention.bytes"], config["cleanup.policy"]) == forever

    wait_until(kept_forever, 30, "retention forever")
    assert ensure_topics(views.kafka_admin, [spec]) == []
