"""Topic administration: the one place topics are created, corrected or deleted, and "already exists" is
recognised."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclOperation,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from ground.kafka import KafkaAccess, client_config
from ingest.errors import TopicError, TopicNotAllowedError

# Creating a topic is a controller round trip (milliseconds when idle); on a loaded 2-core machine with a
# broker just started it took more than 10 s, so wait as long as a broker start may take.
ADMIN_TIMEOUT_S = 30.0
# What a create answers when it got no reply in time (librdkafka's own timeout, or the broker's while the
# controller had not committed it): the topic may or may not exist yet, so the create is asked again.
NO_ANSWER = (KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT)
# How much longer than the broker's operation timeout the client waits for its reply.
REPLY_MARGIN_S = 5.0
# A new topic takes the brokers' default.replication.factor (KIP-464): 1 on one broker, 3 on a cluster, set
# where the brokers are configured and nowhere else.
BROKER_DEFAULT = -1
# What a broker's authorizer answers a principal without the Create permission.
NOT_ALLOWED = (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED)
# How often a describe of a topic that a broker does not know yet is asked again.
UNKNOWN_TOPIC_RETRY_S = 0.2


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)


def ensure_topics(
    kafka: KafkaAccess, specs: Sequence[TopicSpec], timeout_s: float = ADMIN_TIMEOUT_S
) -> list[str]:
    """Creates the missing topics (replicated as the brokers' default.replication.factor says) and corrects
    the configuration of the existing ones; returns the corrections made, as "topic: name=value".

    A create with no answer is asked again until `timeout_s` has passed: a cluster just started can leave a
    request unanswered (three KRaft nodes beside eight other JVMs on two cores), and asking again is safe
    because a topic that got made meanwhile answers "already exists"."""
    if not specs:
        return []
    client = _admin(kafka)
    deadline = time.monotonic() + timeout_s
    pending, existing = list(specs), []
    while pending:
        attempt_s = max(1.0, min(ADMIN_TIMEOUT_S, deadline - time.monotonic()))
        futures = client.create_topics(
            [
                NewTopic(
                    s.name,
                    num_partitions=s.partitions,
                    replication_factor=BROKER_DEFAULT,
                    config=dict(s.config),
                )
                for s in pending
            ],
            operation_timeout=attempt_s,
            request_timeout=attempt_s + REPLY_MARGIN_S,
        )
        unanswered = []
        for spec in pending:
            try:
                # librdkafka ends the request at `request_timeout`; the second margin only guards against a
                # future that it never completes.
                futures[spec.name].result(attempt_s + 2 * REPLY_MARGIN_S)
            except (KafkaException, concurrent.futures.TimeoutError) as exc:
                code = _code(exc)
                if code in NOT_ALLOWED:
                    raise TopicNotAllowedError(
                        f"may not create topic {spec.name!r} on {kafka.bootstrap}: {exc}"
                    ) from exc
                if code == KafkaError.TOPIC_ALREADY_EXISTS:
                    existing.append(spec)
                elif code in NO_ANSWER and time.monotonic() < deadline:
                    unanswered.append(spec)
                else:
                    raise TopicError(
                        f"cannot create topic {spec.name!r} on {kafka.bootstrap}: {exc!r}"
                    ) from exc
        pending = unanswered
    return [fix for spec in existing for fix in _correct_config(client, spec, timeout_s)]


def delete_topics(kafka: KafkaAccess, names: Sequence[str], timeout_s: float = ADMIN_TIMEOUT_S) -> None:
    """Deletes the topics; one that is already gone counts as deleted."""
    if not names:
        return
    # The client is held until the deletion is answered: a temporary one is destroyed at once, and the request
    # with it (drills and benchmarks left their topics, their data kept forever).
    client = _admin(kafka)
    for name, future in client.delete_topics(list(names), operation_timeout=timeout_s).items():
        try:
            future.result(timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise TopicError(f"cannot delete topic {name!r} on {kafka.bootstrap}: {exc}") from exc


@dataclass(frozen=True)
class TopicAccess:
    """One topic as one principal sees it: its partitions and what the brokers' authorizer lets that principal
    do there (KIP-430's authorized operations: asked, not tried)."""

    # None: the topic does not exist, or the principal may not describe it (then `known` is False: the
    # brokers do not tell it whether the topic exists).
    partitions: int | None
    operations: frozenset[AclOperation] = frozenset()
    known: bool = True


def topic_access(
    kafka: KafkaAccess, names: Sequence[str], timeout_s: float = ADMIN_TIMEOUT_S
) -> dict[str, TopicAccess]:
    """How `kafka`'s principal sees each topic. A topic just created may be unknown to the broker asked for a
    while (`_config`), so "unknown" is asked again until the deadline."""
    client = _admin(kafka)
    found: dict[str, TopicAccess] = {}
    deadline = time.monotonic() + timeout_s
    while True:
        asked = [name for name in names if name not in found]
        futures = client.describe_topics(
            TopicCollection(asked), include_authorized_operations=True, request_timeout=timeout_s
        )
        for name, future in futures.items():
            try:
                described = future.result(timeout_s)
            except KafkaException as exc:
                code = exc.args[0].code()
                if code == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                    found[name] = TopicAccess(None, known=False)
                elif code != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise TopicError(f"cannot describe topic {name!r} on {kafka.bootstrap}: {exc}") from exc
                continue
            operations = frozenset(described.authorized_operations or ())
            found[name] = TopicAccess(len(described.partitions), operations)
        if len(found) == len(names) or time.monotonic() >= deadline:
            return {name: found.get(name, TopicAccess(None)) for name in names}
        time.sleep(UNKNOWN_TOPIC_RETRY_S)


def topic_configs(
    kafka: KafkaAccess, names: Sequence[str], timeout_s: float = ADMIN_TIMEOUT_S
) -> dict[str, dict[str, str]]:
    client = _admin(kafka)
    return {name: _config(client, name, timeout_s) for name in names}


def config_drift(actual: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str]:
    """The wanted settings the topic does not have: name -> wanted value."""
    return {name: value for name, value in wanted.items() if actual.get(name) != value}


def _config(client: AdminClient, topic: str, timeout_s: float) -> dict[str, str]:
    """The topic's configuration. A topic just created may be unknown to the broker asked for a while: each
    broker learns it from the controller's metadata log on its own (3 KRaft nodes at load average 44: a
    topic created by one client was "unknown topic or partition" to the next client's describe), so that
    answer is asked again until the deadline."""
    resource = ConfigResource(ResourceType.TOPIC, topic)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            entries = client.describe_configs([resource])[resource].result(timeout=timeout_s)
        except KafkaException as exc:
            unknown = exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
            if unknown and time.monotonic() < deadline:
                time.sleep(UNKNOWN_TOPIC_RETRY_S)
                continue
            raise TopicError(f"cannot read the configuration of topic {topic!r}: {exc}") from exc
        return {name: entry.value for name, entry in entries.items()}


def _correct_config(client: AdminClient, spec: TopicSpec, timeout_s: float) -> list[str]:
    drift = config_drift(_config(client, spec.name, timeout_s), spec.config)
    if not drift:
        return []
    entries = [
        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET) for name, value in drift.items()
    ]
    resource = ConfigResource(ResourceType.TOPIC, spec.name, incremental_configs=entries)
    try:
        client.incremental_alter_configs([resource])[resource].result(timeout=timeout_s)
    except KafkaException as exc:
        raise TopicError(f"cannot correct the configuration of topic {spec.name!r} ({drift}): {exc}") from exc
    return [f"{spec.name}: {name}={value}" for name, value in drift.items()]


def _code(exc: KafkaException | concurrent.futures.TimeoutError) -> int:
    """The Kafka error code of a failed admin future; a future that ran out of time counts as timed out."""
    if isinstance(exc, KafkaException):
        return int(exc.args[0].code())
    return int(KafkaError._TIMED_OUT)


def _admin(kafka: KafkaAccess) -> AdminClient:
    return AdminClient(client_config(kafka))
