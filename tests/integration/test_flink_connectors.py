"""A PyFlink job on the cluster reads Kafka through the connector jar and writes Postgres via JDBC."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from confluent_kafka import Producer

from deploy.flink import standalone
from deploy.paths import StatePaths
from deploy.postgres import server as postgres
from deploy.settings import Settings
from deploy.wait import wait_until
from stream import flinkrest

JOB = Path(__file__).with_name("flink_smoke_job.py")


def test_python_job_moves_kafka_messages_into_postgres(
    stack: Settings, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("smoke", 2)
    table = f"smoke_{uuid.uuid4().hex[:8]}"
    db = postgres.admin_conninfo(stack, stack.pg_database)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (line text PRIMARY KEY)")
    lines = [f"line-{i}" for i in range(50)]
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap, "enable.idempotence": True})
    for line in lines:
        producer.produce(topic, value=line.encode())
    assert producer.flush(30) == 0

    paths = StatePaths(stack.home)
    out = standalone.flink_cli(
        paths,
        "run",
        "-d",
        "-m",
        stack.flink_rest.removeprefix("http://"),
        "-py",
        str(JOB),
        topic,
        stack.kafka_bootstrap,
        stack.writer_jdbc_url,
        "postgres",
        stack.pg_admin_password,
        table,
    )
    job_id = out.strip().split()[-1]
    try:
        assert flinkrest.job_state(stack, job_id) in flinkrest.ALIVE

        def all_rows_written() -> bool:
            with psycopg.connect(db) as conn:
                return conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (len(lines),)

        wait_until(all_rows_written, 120, "rows written by the Flink job")
        with psycopg.connect(db) as conn:
            stored = sorted(row[0] for row in conn.execute(f"SELECT line FROM {table}"))
        assert stored == sorted(lines)
    finally:
        standalone.flink_cli(paths, "cancel", "-m", stack.flink_rest.removeprefix("http://"), job_id)
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(f"DROP TABLE {table}")
