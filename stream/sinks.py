"""The guarded Postgres upsert through Flink's JDBC connector, and the dead-letter Kafka sink.

Python's `JdbcSink.sink()` calls `JdbcOutputFormat.createRowJdbcStatementBuilder(int[])`, which JDBC connector
3.2+ no longer has. The Sink V2 builder is built through the gateway instead, with the row statement builder
taken from the connector's package-private `RowJdbcOutputFormat` by reflection: no Java to compile, still the
connector's own batching, retries and flush on checkpoint.
"""

from __future__ import annotations

from typing import Any

from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream.connectors import DeliveryGuarantee, Sink
from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink
from pyflink.java_gateway import get_gateway

from stream.errors import StreamError

# Snapshots are already coalesced per movie. A batch leaves at 1,000 rows (under load) or after 50 ms (when
# few rows come): the interval only delays a quiet read model's change, a busy one fills batches by size.
BATCH_SIZE = 1000
BATCH_INTERVAL_MS = 50
MAX_RETRIES = 3


def postgres_sink(jdbc_url: str, user: str, password: str, sql: str, sql_types: list[int]) -> Sink:
    """A guarded upsert (stream.upsert): the snapshots or the trending rows, with their SQL and types."""
    jvm = get_gateway().jvm
    connection = (
        jvm.org.apache.flink.connector.jdbc.JdbcConnectionOptions.JdbcConnectionOptionsBuilder()
        .withUrl(jdbc_url)
        .withDriverName("org.postgresql.Driver")
        .withUsername(user)
        .withPassword(password)
        .build()
    )
    execution = (
        jvm.org.apache.flink.connector.jdbc.JdbcExecutionOptions.builder()
        .withBatchSize(BATCH_SIZE)
        .withBatchIntervalMs(BATCH_INTERVAL_MS)
        .withMaxRetries(MAX_RETRIES)
        .build()
    )
    j_sink = (
        jvm.org.apache.flink.connector.jdbc.core.datastream.sink.JdbcSink.builder()
        .withQueryStatement(sql, _row_statement_builder(sql_types))
        .withExecutionOptions(execution)
        .buildAtLeastOnce(connection)
    )
    return Sink(j_sink)


def _row_statement_builder(sql_types: list[int]) -> Any:
    gateway = get_gateway()
    jvm = gateway.jvm
    name = "org.apache.flink.connector.jdbc.internal.RowJdbcOutputFormat"
    try:
        loader = jvm.Thread.currentThread().getContextClassLoader()
        owner = jvm.java.lang.Class.forName(name, False, loader)
        types = gateway.new_array(jvm.int, len(sql_types))
        for index, code in enumerate(sql_types):
            types[index] = code
        parameter_classes = gateway.new_array(jvm.java.lang.Class, 1)
        parameter_classes[0] = types.getClass()
        method = owner.getDeclaredMethod("createRowJdbcStatementBuilder", parameter_classes)
        method.setAccessible(True)
        arguments = gateway.new_array(jvm.java.lang.Object, 1)
        arguments[0] = types
        return method.invoke(None, arguments)
    except Exception as exc:  # py4j raises Py4JJavaError/Py4JError; either means the connector jar is wrong
        raise StreamError(f"{name}.createRowJdbcStatementBuilder(int[]) unavailable: {exc}") from exc


def dead_letter_sink(bootstrap: str, topic: str) -> KafkaSink:
    serializer = (
        KafkaRecordSerializationSchema.builder()
        .set_topic(topic)
        .set_value_serialization_schema(SimpleStringSchema())
        .build()
    )
    return (
        KafkaSink.builder()
        .set_bootstrap_servers(bootstrap)
        .set_record_serializer(serializer)
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .build()
    )
