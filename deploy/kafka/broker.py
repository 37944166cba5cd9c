"""The Kafka broker (KRaft, single node) run from Apache Kafka's own jars, and the project's topics."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from deploy import procs
from deploy.errors import DeployError
from deploy.paths import DEPLOY_DIR, StatePaths
from deploy.settings import Settings
from deploy.supervisor import Program

COMPONENT = "kafka"
# The broker holds little here (a few million small events); 512 MB keeps it at ~0.5 GB RSS on a 24 GB box
# that also runs two Flink JVMs and Postgres.
HEAP = "-Xms512m -Xmx512m"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


# The event log is the system of record: a start without restored state (or a rebuild) reads it from
# offset zero, so the event topics never drop a segment for age or size, and views are never compacted (one
# key holds every view of a movie). Dead letters keep the original bytes of events waiting for a replay.
KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


def topics(settings: Settings) -> list[TopicSpec]:
    # Views spread over 4 partitions (key = movie id keeps one movie's order); the schema catalog is compacted
    # so it keeps the latest value per fingerprint forever.
    return [
        TopicSpec(settings.views_topic, 4, KEEP_FOREVER),
        TopicSpec(settings.movies_topic, 4, KEEP_FOREVER),
        TopicSpec(settings.dlq_topic, 1, KEEP_FOREVER),
        TopicSpec(settings.schemas_topic, 1, {"cleanup.policy": "compact"}),
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


def ensure_topics(settings: Settings, specs: list[TopicSpec]) -> list[str]:
    """Creates missing topics and corrects the configuration of existing ones; returns what it corrected."""
    client = admin(settings)
    existing = set(client.list_topics(timeout=10).topics)
    missing = [
        NewTopic(t.name, num_partitions=t.partitions, replication_factor=1, config=t.config)
        for t in specs
        if t.name not in existing
    ]
    if missing:
        for name, future in client.create_topics(missing, operation_timeout=30).items():
            try:
                future.result()
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise DeployError(f"creating Kafka topic {name} failed: {exc}") from exc
    return [fix for t in specs if t.name in existing for fix in _correct_config(client, t)]


def topic_config(client: AdminClient, topic: str) -> dict[str, str]:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    try:
        entries = client.describe_configs([resource])[resource].result(timeout=10)
    except KafkaException as exc:
        raise DeployError(f"reading the configuration of Kafka topic {topic} failed: {exc}") from exc
    return {name: entry.value for name, entry in entries.items()}


def config_drift(actual: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    """The wanted settings the topic does not have: name -> wanted value."""
    return {name: value for name, value in wanted.items() if actual.get(name) != value}


def _correct_config(client: AdminClient, spec: TopicSpec) -> list[str]:
    drift = config_drift(topic_config(client, spec.name), spec.config)
    if not drift:
        return []
    entries = [
        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET) for name, value in drift.items()
    ]
    resource = ConfigResource(ResourceType.TOPIC, spec.name, incremental_configs=entries)
    try:
        client.incremental_alter_configs([resource])[resource].result(timeout=30)
    except KafkaException as exc:
        raise DeployError(f"correcting the configuration of Kafka topic {spec.name} failed: {exc}") from exc
    return [f"{spec.name}: {name}={value}" for name, value in drift.items()]


def retention(settings: Settings) -> tuple[bool, str]:
    """`status`: whether every event topic keeps its events forever, and what each keeps."""
    try:
        client = admin(settings)
        specs = [t for t in topics(settings) if t.config is KEEP_FOREVER]
        configs = {t.name: topic_config(client, t.name) for t in specs}
    except (KafkaException, DeployError) as exc:
        return False, f"topic configuration unreadable: {exc}"
    parts, ok = [], True
    for name, config in configs.items():
        drift = config_drift(config, KEEP_FOREVER)
        ok = ok and not drift
        kept = "forever" if not drift else f"retention.ms={config.get('retention.ms')}"
        parts.append(f"{name} {kept}")
    hint = "" if ok else " (run `movieviews up` to correct)"
    return ok, "; ".join(parts) + hint
