"""`movieviews bench produce`: encode + produce throughput, counted in acknowledged events per second."""

from __future__ import annotations

import argparse

from deploy import progress
from deploy.bench import report
from deploy.errors import BenchmarkError
from deploy.settings import Settings
from ingest.loadgen import generate
from ingest.topics import TopicSpec, ensure_topics

BENCH_PARTITIONS = 4
# The bench topic only needs to hold a run long enough to be read back; older runs are deleted within minutes.
BENCH_TOPIC_CONFIG = {"retention.ms": str(10 * 60 * 1000)}
TARGETS = (report.Target("acked/s", 100_000),)


def bench_produce(
    settings: Settings, events: int = 1_000_000, topic: str | None = None, v2_share: float = 0.0
) -> report.Result:
    """One process, pre-encoded values, idempotent acks=all producer."""
    topic = topic or f"{settings.views_topic}-bench"
    ensure_topics(settings.kafka_admin, [TopicSpec(topic, BENCH_PARTITIONS, BENCH_TOPIC_CONFIG)])
    with progress.working(f"producing {events:,} events to {topic}", events) as step:
        result = generate(
            settings,
            events=events,
            topic=topic,
            v2_share=v2_share,
            seed=1,
            on_progress=lambda done: step.update(done.acknowledged),
        )
    if result.failed:
        raise BenchmarkError(f"{result.failed} of {result.sent} events not acknowledged")
    row = {
        "events": result.acknowledged,
        "seconds": round(result.elapsed_s, 3),
        "acked/s": round(result.events_per_s),
    }
    parameters = {"events": events, "topic": topic, "v2_share": v2_share}
    figures = {"targets": report.against(TARGETS, {"acked/s": row["acked/s"]})}
    return report.Result("produce", parameters, [row], figures)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=1_000_000, help="events to send (default 1,000,000)")
    parser.add_argument("--topic", help="target topic (default: <views topic>-bench, short retention)")
    parser.add_argument("--v2-share", type=float, default=0.0, help="share of events written as v2")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    report.publish(settings, bench_produce(settings, args.events, args.topic, args.v2_share))
    return 0
