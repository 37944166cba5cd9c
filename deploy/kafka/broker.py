"""The Kafka broker (KRaft, single node) run from Apache Kafka's own jars, and the project's topics."""

from __future__ import annotations

import subprocess

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from deploy import procs
from deploy.paths import DEPLOY_DIR, StatePaths
from deploy.settings import Settings
from deploy.supervisor import Program
from ingest.errors import TopicError
from ingest.topics import TopicSpec, config_drift, topic_configs
from schemas.registry import SCHEMAS_TOPIC_CONFIG, SCHEMAS_TOPIC_PARTITIONS

COMPONENT = "kafka"
# The broker holds little here (a few million small events); 512 MB keeps it at ~0.5 GB RSS on a 24 GB box
# that also runs two Flink JVMs and Postgres.
HEAP = "-Xms512m -Xmx512m"
# `status` reads topic configuration as a health check: a healthy broker answers in milliseconds.
HEALTH_TIMEOUT_S = 10.0


# The event log is the system of record: a start without restored state (or a rebuild) reads it from
# offset zero, so the event topics never drop a segment for age or size, and views are never compacted (one
# key holds every view of a movie). Dead letters keep the original bytes of events waiting for a replay.
KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


def topics(settings: Settings) -> list[TopicSpec]:
    # Views spread over 4 partitions (key = movie id keeps one movie's order).
    return [
        TopicSpec(settings.views_topic, 4, KEEP_FOREVER),
        TopicSpec(settings.movies_topic, 4, KEEP_FOREVER),
        TopicSpec(settings.dlq_topic, 1, KEEP_FOREVER),
        TopicSpec(settings.schemas_topic, SCHEMAS_TOPIC_PARTITIONS, SCHEMAS_TOPIC_CONFIG),
    ]


def _java(paths: StatePaths, *args: str) -> list[str]:
    return [
        "java",
        f"-Dlog4j.configuration=file:{paths.kafka / 'log4j.properties'}",
        "-cp",
        str(paths.kafka / "libs" / "*"),
        *args,
    ]


def _write_config(settings: Settings, paths: StatePaths) -> None:
    template = (DEPLOY_DIR / "kafka" / "server.properties").read_text()
    rendered = template.format(
        port=settings.kafka_port,
        controller_port=settings.kafka_controller_port,
        log_dirs=paths.kafka / "data",
    )
    (paths.kafka / "server.properties").write_text(rendered)
    (paths.kafka / "log4j.properties").write_text((DEPLOY_DIR / "kafka" / "log4j.properties").read_text())


def _format_storage(paths: StatePaths) -> None:
    if (paths.kafka / "data" / "meta.properties").exists():
        return
    cluster_id = subprocess.run(
        _java(paths, "kafka.tools.StorageTool", "random-uuid"), capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(
        _java(
            paths,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(paths.kafka / "server.properties"),
        ),
        capture_output=True,
        text=True,
        check=True,
    )


def admin(settings: Settings) -> AdminClient:
    return AdminClient(
        {"bootstrap.servers": settings.kafka_bootstrap, "socket.timeout.ms": 2000, "log_level": 3}
    )


def end_offsets(settings: Settings, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """The log end offset (high watermark) of each (topic, partition)."""
    if not partitions:
        return {}
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    client = admin(settings)  # held until the answers are in: a collected client never completes its futures
    futures = client.list_offsets({TopicPartition(t, p): latest for t, p in partitions}, request_timeout=5)
    return {(tp.topic, tp.partition): f.result(timeout=10).offset for tp, f in futures.items()}


def healthy(settings: Settings) -> tuple[bool, str]:
    if not procs.port_open(settings.kafka_port):
        return False, f"nothing listens on {settings.kafka_bootstrap}"
    try:
        metadata = admin(settings).list_topics(timeout=3)
    except KafkaException as exc:
        return False, f"metadata request to {settings.kafka_bootstrap} failed: {exc}"
    return True, f"metadata request answered: {len(metadata.brokers)} broker, {len(metadata.topics)} topics"


def prepare(settings: Settings, paths: StatePaths) -> None:
    """Writes the broker's config and formats its storage on first use."""
    paths.kafka.mkdir(parents=True, exist_ok=True)
    _write_config(settings, paths)
    _format_storage(paths)


def program(paths: StatePaths) -> Program:
    argv = [
        "java",
        *HEAP.split(),
        "-XX:+UseG1GC",
        *_java(paths, "kafka.Kafka", str(paths.kafka / "server.properties"))[1:],
    ]
    return Program(COMPONENT, argv, paths.kafka, {"KAFKA_HEAP_OPTS": HEAP})


def retention(settings: Settings) -> tuple[bool, str]:
    """`status`: whether every event topic keeps its events forever, and what each keeps."""
    try:
        names = [t.name for t in topics(settings) if t.config is KEEP_FOREVER]
        configs = topic_configs(settings.kafka_bootstrap, names, timeout_s=HEALTH_TIMEOUT_S)
    except (KafkaException, TopicError) as exc:
        return False, f"topic configuration unreadable: {exc}"
    parts, ok = [], True
    for name, config in configs.items():
        drift = config_drift(config, KEEP_FOREVER)
        ok = ok and not drift
        kept = "forever" if not drift else f"retention.ms={config.get('retention.ms')}"
        parts.append(f"{name} {kept}")
    hint = "" if ok else " (run `movieviews up` to correct)"
    return ok, "; ".join(parts) + hint
