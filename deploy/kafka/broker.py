"""The Kafka broker (KRaft, single node) run from Apache Kafka's own jars, and the project's topics."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from deploy import procs
from deploy.errors import DeployError
from deploy.paths import DEPLOY_DIR, StatePaths
from deploy.settings import Settings

COMPONENT = "kafka"
# The broker holds little here (a few million small events); 512 MB keeps it at ~0.5 GB RSS on a 24 GB box
# that also runs two Flink JVMs and Postgres.
HEAP = "-Xms512m -Xmx512m"
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def topics(settings: Settings) -> list[TopicSpec]:
    # Views spread over 4 partitions (key = movie id keeps one movie's order); the schema catalog is compacted
    # so it keeps the latest value per fingerprint forever.
    return [
        TopicSpec(settings.views_topic, 4, {}),
        TopicSpec(settings.movies_topic, 4, {}),
        TopicSpec(settings.dlq_topic, 1, {}),
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


def healthy(settings: Settings) -> tuple[bool, str]:
    if not procs.port_open(settings.kafka_port):
        return False, f"nothing listens on {settings.kafka_bootstrap}"
    try:
        metadata = admin(settings).list_topics(timeout=3)
    except KafkaException as exc:
        return False, f"metadata request to {settings.kafka_bootstrap} failed: {exc}"
    return True, f"metadata request answered: {len(metadata.brokers)} broker, {len(metadata.topics)} topics"


def start(settings: Settings, paths: StatePaths) -> int | None:
    """Starts the broker unless it already runs; returns the pid it started, if any."""
    if procs.read_pid(paths.pid_file(COMPONENT)):
        return None
    procs.ensure_port_free(settings.kafka_port, "Kafka")
    procs.ensure_port_free(settings.kafka_controller_port, "the Kafka controller")
    paths.kafka.mkdir(parents=True, exist_ok=True)
    _write_config(settings, paths)
    _format_storage(paths)
    env = {**os.environ, "KAFKA_HEAP_OPTS": HEAP}
    argv = [
        "java",
        *HEAP.split(),
        "-XX:+UseG1GC",
        *_java(paths, "kafka.Kafka", str(paths.kafka / "server.properties"))[1:],
    ]
    return procs.spawn(argv, paths.pid_file(COMPONENT), paths.log_file(COMPONENT), env, paths.kafka)


def ensure_topics(settings: Settings, specs: list[TopicSpec]) -> None:
    client = admin(settings)
    existing = set(client.list_topics(timeout=10).topics)
    missing = [
        NewTopic(t.name, num_partitions=t.partitions, replication_factor=1, config=t.config)
        for t in specs
        if t.name not in existing
    ]
    if not missing:
        return
    for name, future in client.create_topics(missing, operation_timeout=30).items():
        try:
            future.result()
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise DeployError(f"creating Kafka topic {name} failed: {exc}") from exc
