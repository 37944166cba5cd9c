"""Drill `intruder` (Kafka security on: the cluster profile's default): while the API's principal produces
the load, real clients try what the ACLs and the TLS listener must refuse, each refusal checked by the error
the broker or the client reports; the counts stay exact.

An intruder's event is a valid MovieViewed of a movie of its own: had any been accepted, the job would have
counted it, and the verdict (truth against Postgres, per movie) would name the movie.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from deploy.drills import steps
from deploy.drills.steps import DrillReport
from deploy.errors import DrillError
from deploy.sandbox import Sandbox
from deploy.settings import Settings
from ground.kafka import API, Credentials, KafkaAccess, client_config
from ingest.events import MovieViewed
from schemas.catalog import Catalog
from schemas.codec import encode

INTRUDER_MOVIE = "intruder"
# A refused producer's event fails when this runs out (a wrong password or plaintext is never delivered;
# librdkafka keeps retrying until then); a refusal by ACL is answered at once.
REFUSED_WITHIN_S = 15
# A topic create or delete is answered within seconds; the rest is for a loaded machine.
ADMIN_TIMEOUT_S = 60


@dataclass(frozen=True)
class Attempt:
    case: str
    # The error codes that say it was refused for the right reason (the broker's, or the client's own).
    refused_with: frozenset[int]
    run: Callable[[Sandbox], set[int]]


def _errors(collected: list[KafkaError]) -> set[int]:
    return {error.code() for error in collected}


def _produce(env: Sandbox, config: dict[str, Any]) -> set[int]:
    """One intruder event to the views topic: the error codes seen (the delivery's, the client's), or
    {NO_ERROR} when it was acknowledged."""
    seen: list[KafkaError] = []
    delivered: list[bool] = []
    producer = Producer({**config, "message.timeout.ms": REFUSED_WITHIN_S * 1000, "error_cb": seen.append})
    value = encode(Catalog.bundled(), MovieViewed.SUBJECT, MovieViewed.new(INTRUDER_MOVIE).to_record())

    def report(error: KafkaError | None, _message: object) -> None:
        delivered.append(error is None)
        if error is not None:
            seen.append(error)

    producer.produce(env.settings.views_topic, key=INTRUDER_MOVIE.encode(), value=value, on_delivery=report)
    producer.flush(REFUSED_WITHIN_S * 2)
    return {KafkaError.NO_ERROR} if any(delivered) else _errors(seen)


def _plaintext(env: Sandbox) -> set[int]:
    return _produce(env, client_config(KafkaAccess(env.settings.kafka_bootstrap)))


def _tls_without_credentials(env: Sandbox) -> set[int]:
    ca = env.settings.kafka_api.credentials
    assert ca is not None  # security is on (checked by the drill)
    config = {"security.protocol": "SSL", "ssl.ca.location": str(ca.ca)}
    return _produce(env, {**client_config(KafkaAccess(env.settings.kafka_bootstrap)), **config})


def _wrong_password(env: Sandbox) -> set[int]:
    api = env.settings.kafka_api.credentials
    assert api is not None
    wrong = Credentials(API, api.password + "-wrong", api.ca)
    return _produce(env, client_config(KafkaAccess(env.settings.kafka_bootstrap, wrong)))


def _job_writes_views(env: Sandbox) -> set[int]:
    return _produce(env, client_config(env.settings.kafka_job))


def _api_reads_views(env: Sandbox) -> set[int]:
    """The API's principal fetches the log from the start, in a group it may look at (the drill's, whose
    offsets it reads for the lag), so the refusal is the topic's own."""
    consumer = Consumer(
        client_config(
            env.settings.kafka_api, **{"group.id": f"{env.name}-intruder", "enable.auto.commit": False}
        )
    )
    consumer.assign([TopicPartition(env.settings.views_topic, 0, OFFSET_BEGINNING)])
    deadline = time.monotonic() + REFUSED_WITHIN_S
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            return {KafkaError.NO_ERROR} if error is None else {error.code()}
        return set()
    finally:
        consumer.close()


def _admin_call(env: Sandbox, call: Callable[[AdminClient], dict[str, Any]]) -> set[int]:
    client = AdminClient(client_config(env.settings.kafka_api))
    try:
        for future in call(client).values():
            future.result(ADMIN_TIMEOUT_S)
    except KafkaException as exc:
        return {exc.args[0].code()}
    return {KafkaError.NO_ERROR}


def _api_creates_topic(env: Sandbox) -> set[int]:
    topic = NewTopic(f"{env.name}-intruder", num_partitions=1, replication_factor=-1)
    return _admin_call(env, lambda client: client.create_topics([topic], operation_timeout=ADMIN_TIMEOUT_S))


def _api_deletes_views(env: Sandbox) -> set[int]:
    topics = [env.settings.views_topic]
    return _admin_call(env, lambda client: client.delete_topics(topics, operation_timeout=ADMIN_TIMEOUT_S))


TOPIC_REFUSED = frozenset({KafkaError.TOPIC_AUTHORIZATION_FAILED})
# Plaintext, or TLS without SASL, on the SASL_SSL listener: the broker drops the connection, and librdkafka
# reports every broker down, then the event timed out.
NO_SESSION = frozenset({KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._SSL})
ATTEMPTS = (
    Attempt("a plaintext producer on the TLS listener", NO_SESSION, _plaintext),
    Attempt("a producer over TLS with no credentials", NO_SESSION, _tls_without_credentials),
    Attempt("a producer with a wrong password", frozenset({KafkaError._AUTHENTICATION}), _wrong_password),
    Attempt("the job's principal writing the views topic", TOPIC_REFUSED, _job_writes_views),
    Attempt("the API's principal reading the views topic", TOPIC_REFUSED, _api_reads_views),
    Attempt(
        "the API's principal creating a topic",
        frozenset({KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED}),
        _api_creates_topic,
    ),
    Attempt("the API's principal deleting the views topic", TOPIC_REFUSED, _api_deletes_views),
)


def _name(code: int) -> str:
    return KafkaError(code).name()


def intruder(base: Settings) -> DrillReport:
    if not base.kafka_security:
        raise DrillError("intruder needs MOVIEVIEWS_KAFKA_SECURITY=on (the cluster profile's default)")
    started = time.monotonic()
    with Sandbox(base, "intruder") as env:
        env.submit()
        load = steps.load(env)  # the API's principal: every event acknowledged and counted
        outcomes = [(attempt, attempt.run(env)) for attempt in ATTEMPTS]
        report = steps.finish(env, "intruder", started, load.result().per_movie, None, [])
        for attempt, seen in outcomes:
            refused = bool(seen & attempt.refused_with) and KafkaError.NO_ERROR not in seen
            report.passed = report.passed and refused
            said = ", ".join(sorted(_name(code) for code in seen)) or "no answer"
            report.notes.append(f"{attempt.case}: {'refused' if refused else 'NOT REFUSED'} ({said})")
        return report


DRILLS = {"intruder": intruder}
