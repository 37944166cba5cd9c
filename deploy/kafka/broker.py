"""The Kafka nodes (KRaft, each broker and controller) run from Apache Kafka's own jars, and the project's
topics: one node in the single profile, one per address of the bootstrap list in the cluster profile."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from deploy import procs
from deploy.errors import DeployError
from deploy.kafka import security
from deploy.paths import DEPLOY_DIR, StatePaths
from deploy.settings import Settings, port_of
from deploy.supervisor import Program
from ground.kafka import client_config
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


@dataclass(frozen=True)
class Node:
    node_id: int
    broker: str
    controller: str

    @property
    def program(self) -> str:
        # Node 1 keeps the single broker's name: the single profile's drills stop and start "kafka".
        return COMPONENT if self.node_id == 1 else f"{COMPONENT}-{self.node_id}"

    def home(self, paths: StatePaths) -> Path:
        return paths.kafka if self.node_id == 1 else paths.kafka / f"node-{self.node_id}"

    def ports(self) -> dict[int, str]:
        return {
            port_of(self.broker): f"Kafka node {self.node_id}",
            port_of(self.controller): f"the Kafka controller of node {self.node_id}",
        }


def nodes(settings: Settings) -> list[Node]:
    return [Node(i, b, c) for i, (b, c) in enumerate(settings.kafka_nodes(), start=1)]


def node_of(settings: Settings, broker_id: int) -> Node:
    return nodes(settings)[broker_id - 1]


def _java(paths: StatePaths, *args: str) -> list[str]:
    return [
        "java",
        f"-Dlog4j.configuration=file:{paths.kafka / 'log4j.properties'}",
        "-cp",
        str(paths.kafka / "libs" / "*"),
        *args,
    ]


def _write_config(settings: Settings, paths: StatePaths, node: Node) -> None:
    everyone = nodes(settings)
    replicas = min(3, len(everyone))
    template = (DEPLOY_DIR / "kafka" / "server.properties").read_text()
    listener, controller_protocol = security.listener_protocols(settings)
    rendered = template.format(
        listener=listener,
        controller_protocol=controller_protocol,
        security=security.server_properties(settings, node.node_id),
        node_id=node.node_id,
        voters=",".join(f"{n.node_id}@{n.controller}" for n in everyone),
        broker=node.broker,
        controller=node.controller,
        log_dirs=node.home(paths) / "data",
        replicas=replicas,
        min_isr=max(1, replicas - 1),
    )
    node.home(paths).mkdir(parents=True, exist_ok=True)
    config = node.home(paths) / "server.properties"
    config.touch(mode=0o600)
    config.chmod(0o600)  # it may hold the brokers' passwords
    config.write_text(rendered)
    (paths.kafka / "log4j.properties").write_text((DEPLOY_DIR / "kafka" / "log4j.properties").read_text())


def _cluster_id(paths: StatePaths) -> str:
    """One id for every node's storage, made once (a node formatted with another id is refused)."""
    known = paths.kafka / "cluster-id"
    if not known.exists():
        found = subprocess.run(
            _java(paths, "kafka.tools.StorageTool", "random-uuid"), capture_output=True, text=True, check=True
        ).stdout
        # The id is the last line: log4j's console appender may print before it.
        known.write_text(found.strip().splitlines()[-1])
    return known.read_text().strip()


def _format_storage(settings: Settings, paths: StatePaths, node: Node) -> None:
    """Formats a node's storage once; with security on, with the principals' SCRAM credentials (KRaft takes
    the first ones from the format; the brokers authenticate each other with theirs from the start)."""
    if (node.home(paths) / "data" / "meta.properties").exists():
        return
    config = str(node.home(paths) / "server.properties")
    scram = security.scram_arguments(settings) if settings.kafka_security else []
    done = subprocess.run(
        _java(paths, "kafka.tools.StorageTool", "format", "-t", _cluster_id(paths), "-c", config, *scram),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:  # its command line is not repeated: it holds the passwords
        raise DeployError(
            f"formatting Kafka node {node.node_id}'s storage failed: {done.stdout + done.stderr}"
        )


def admin(settings: Settings) -> AdminClient:
    return AdminClient(client_config(settings.kafka_admin, **{"socket.timeout.ms": 2000}))


def healthy(settings: Settings) -> tuple[bool, str]:
    """Healthy once every node answers as a broker in the cluster's metadata."""
    listening = [b for b in settings.kafka_brokers if procs.port_open(port_of(b))]
    if not listening:
        return False, f"nothing listens on {settings.kafka_bootstrap}"
    try:
        metadata = admin(settings).list_topics(timeout=3)
    except KafkaException as exc:
        return False, f"metadata request to {settings.kafka_bootstrap} failed: {exc}"
    brokers, wanted = len(metadata.brokers), len(settings.kafka_brokers)
    detail = f"metadata request answered: {brokers}/{wanted} broker(s), {len(metadata.topics)} topics"
    return brokers == wanted, detail


def prepare(settings: Settings, paths: StatePaths) -> None:
    """Writes each node's config and formats its storage on first use."""
    paths.kafka.mkdir(parents=True, exist_ok=True)
    if settings.kafka_security:
        security.prepare(settings)
    for node in nodes(settings):
        _write_config(settings, paths, node)
        _format_storage(settings, paths, node)


def programs(settings: Settings, paths: StatePaths) -> list[Program]:
    return [
        Program(
            node.program,
            [
                "java",
                *HEAP.split(),
                "-XX:+UseG1GC",
                *_java(paths, "kafka.Kafka", str(node.home(paths) / "server.properties"))[1:],
            ],
            node.home(paths),
            {"KAFKA_HEAP_OPTS": HEAP},
        )
        for node in nodes(settings)
    ]


def leaders(settings: Settings, topic: str) -> dict[int, int]:
    """Partition -> the broker id that leads it (-1 while none does)."""
    metadata = admin(settings).list_topics(topic, timeout=5)
    return {p.id: p.leader for p in metadata.topics[topic].partitions.values()}


def under_replicated(settings: Settings, topic: str) -> list[int]:
    """The partitions of `topic` whose in-sync replicas are fewer than their replicas."""
    metadata = admin(settings).list_topics(topic, timeout=5)
    return [p.id for p in metadata.topics[topic].partitions.values() if len(p.isrs) < len(p.replicas)]


def retention(settings: Settings) -> tuple[bool, str]:
    """`status`: whether every event topic keeps its events forever, and what each keeps."""
    try:
        names = [t.name for t in topics(settings) if t.config is KEEP_FOREVER]
        configs = topic_configs(settings.kafka_admin, names, timeout_s=HEALTH_TIMEOUT_S)
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
