"""`movieviews bench produce`: encode + produce throughput, counted in acknowledged events per second."""

from __future__ import annotations

import argparse
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import KafkaError, NewTopic

from deploy.settings import Settings
from ingest.errors import PublishError
from ingest.loadgen import generate
from ingest.publisher import KafkaSettings

BENCH_PARTITIONS = 4
# The bench topic only needs to hold a run long enough to be read back; older runs are deleted within minutes.
BENCH_TOPIC_CONFIG = {"retention.ms": str(10 * 60 * 1000)}
ADMIN_TIMEOUT_S = 10.0


def bench_produce(
    settings: KafkaSettings, events: int = 1_000_000, topic: str | None = None, v2_share: float = 0.0
) -> dict[str, Any]:
    """One process, pre-encoded values, idempotent acks=all producer; prints a one-row table."""
    topic = topic or f"{settings.views_topic}-bench"
    _ensure_topic(settings.kafka_bootstrap, topic)
    result = generate(settings, events=events, topic=topic, v2_share=v2_share, seed=1)
    row = {
        "events": result.acknowledged,
        "seconds": round(result.elapsed_s, 3),
        "acked_per_s": round(result.events_per_s),
        "failed": result.failed,
        "topic": topic,
        "v2_share": v2_share,
    }
    print(f"{'benchmark':<10} {'events':>12} {'seconds':>9} {'acked/s':>12}")
    print(f"{'produce':<10} {row['events']:>12,} {row['seconds']:>9.2f} {row['acked_per_s']:>12,}")
    return row


def _ensure_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    future = admin.create_topics([NewTopic(topic, BENCH_PARTITIONS, 1, config=BENCH_TOPIC_CONFIG)])[topic]
    try:
        future.result(ADMIN_TIMEOUT_S)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise PublishError(f"cannot create bench topic {topic!r}: {exc}") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=1_000_000, help="events to send (default 1,000,000)")
    parser.add_argument("--topic", help="target topic (default: <views topic>-bench, short retention)")
    parser.add_argument("--v2-share", type=float, default=0.0, help="share of events written as v2")


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        row = bench_produce(settings, args.events, args.topic, args.v2_share)
    except PublishError as exc:
        print(f"bench produce: {exc}")
        return 1
    return 0 if row["failed"] == 0 else 1
