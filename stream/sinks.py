"""The guarded Postgres upserts (stream.upsert) through the project's batch sink, and the dead-letter Kafka
sink."""

from __future__ import annotations

from functools import reduce

from py4j.java_gateway import JavaClass
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream.connectors import DeliveryGuarantee, Sink
from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink
from pyflink.java_gateway import get_gateway

from ground.kafka import KafkaAccess, java_properties
from stream.errors import StreamError

SINK_CLASS = "movieviews.stream.UpsertSink"
# Snapshots are already coalesced per movie. A batch leaves at 1,000 rows (under load) or 50 ms after its
# first row (when few rows come): the interval only delays a quiet read model's change, a busy one fills
# batches by size.
BATCH_SIZE = 1000
BATCH_INTERVAL_MS = 50
MAX_RETRIES = 3


# The sink's name in the job graph, and the `source_topic` of the dead letters it writes (rows Postgres
# refuses for their own data, SqlStates.java): after aggregation no record's topic, partition or offset is
# known.
UPSERT_STAGE = "postgres-upsert"


def postgres_sink(
    jdbc_url: str,
    user: str,
    password: str,
    sql: str,
    element_types: list[str],
    dead_letters: tuple[KafkaAccess, str],
) -> Sink:
    """`sql` over one array per column (stream.upsert), a batch of rows each statement (UpsertSink.java).
    `dead_letters` is (Kafka, topic): where the rows Postgres refuses for their own data go."""
    gateway = get_gateway()
    types = gateway.new_array(gateway.jvm.String, len(element_types))
    for index, element in enumerate(element_types):
        types[index] = element
    sink_class = reduce(getattr, SINK_CLASS.split("."), gateway.jvm)
    if not isinstance(sink_class, JavaClass):  # py4j names a package when it finds no class
        raise StreamError(f"{SINK_CLASS} not found: the job runs without the stream jar (stream.viewreader)")
    kafka, topic = dead_letters
    properties = gateway.jvm.java.util.HashMap()
    for key, value in java_properties(kafka).items():
        properties.put(key, value)
    batching = (BATCH_SIZE, BATCH_INTERVAL_MS, MAX_RETRIES)
    return Sink(sink_class(jdbc_url, user, password, sql, types, *batching, properties, topic, UPSERT_STAGE))


def dead_letter_sink(kafka: KafkaAccess, topic: str) -> KafkaSink:
    serializer = (
        KafkaRecordSerializationSchema.builder()
        .set_topic(topic)
        .set_value_serialization_schema(SimpleStringSchema())
        .build()
    )
    builder = KafkaSink.builder().set_bootstrap_servers(kafka.bootstrap)
    for key, value in java_properties(kafka).items():
        builder = builder.set_property(key, value)
    return (
        builder.set_record_serializer(serializer)
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .build()
    )
