"""The throughput benchmark's baseline: the same per-movie count as one Flink SQL statement, JVM only.

Kafka source, `GROUP BY movie_id`, JDBC upsert sink; no Python runs after the plan is built. The movie id is
read from the Kafka key, because Flink has no format for Avro single-object encoding: the baseline neither
decodes payloads nor sorts out dead letters, so it bounds from above what the project job could reach. With
`--dedup-window-s`, it drops repeated event ids first, as the project job does, with the same SQL
(`stream.topology.first_occurrences`) on the same state backend (`--state-backend`).
Submitted by `movieviews bench throughput` with `flink run -pym deploy.bench.baseline`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pyflink.table import EnvironmentSettings, TableEnvironment

from deploy.settings import Settings
from stream.config import STATE_BACKENDS, WRITER_ROLE
from stream.topology import ROCKSDB, first_occurrences, register_event_key

TABLE = "baseline_stats"
CREATE_TABLE = f"""
CREATE TABLE {TABLE} (movie_id text PRIMARY KEY, view_count bigint NOT NULL);
GRANT SELECT, INSERT, UPDATE ON {TABLE} TO {WRITER_ROLE};
"""

# Tuned the way a Flink SQL user would: mini-batches fold many events of one movie into one state access and
# one upsert, the same trade (latency for fewer, richer records) the project job makes.
TUNING = {
    "table.exec.mini-batch.enabled": "true",
    "table.exec.mini-batch.allow-latency": "200 ms",
    "table.exec.mini-batch.size": "5000",
}


def statements(args: argparse.Namespace, password: str) -> list[str]:
    source = f"""
        CREATE TABLE view_events (
            `movie_id` STRING,
            `payload` BYTES,
            `topic` STRING METADATA VIRTUAL,
            `partition` INT METADATA VIRTUAL,
            `offset` BIGINT METADATA VIRTUAL,
            `proc` AS PROCTIME()
        ) WITH (
            'connector' = 'kafka',
            'topic' = '{args.topic}',
            'properties.bootstrap.servers' = '{args.bootstrap}',
            'properties.group.id' = '{args.name}',
            'scan.startup.mode' = 'earliest-offset',
            'key.format' = 'raw',
            'key.fields' = 'movie_id',
            'value.format' = 'raw',
            'value.fields-include' = 'EXCEPT_KEY'
        )
    """
    sink = f"""
        CREATE TABLE stats (`movie_id` STRING, `view_count` BIGINT, PRIMARY KEY (movie_id) NOT ENFORCED)
        WITH (
            'connector' = 'jdbc',
            'url' = '{args.jdbc_url}',
            'table-name' = '{TABLE}',
            'username' = '{WRITER_ROLE}',
            'password' = '{password}',
            'sink.buffer-flush.max-rows' = '1000',
            'sink.buffer-flush.interval' = '200 ms'
        )
    """
    return [source, sink]


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="deploy.bench.baseline")
    for name in ("--name", "--bootstrap", "--topic", "--jdbc-url"):
        parser.add_argument(name, required=True)
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--dedup-window-s", type=int, default=0, help="0: no event_id check")
    parser.add_argument("--state-backend", choices=STATE_BACKENDS, help="default: the cluster's")
    parser.add_argument("--jar", required=True, help="the job's own jar (the deduplication's key function)")
    args = parser.parse_args(argv)
    # As in deploy/flink/jobscript.py: the password comes from the environment, never the command line.
    password = Settings.from_env(os.environ).pg_writer_password
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = t_env.get_config()
    for key, value in {**TUNING, "pipeline.name": args.name}.items():
        conf.set(key, value)
    conf.set("parallelism.default", str(args.parallelism))
    conf.set("pipeline.jars", Path(args.jar).resolve().as_uri())
    # The remembered ids on the same backend as the project job's, configured the same way.
    if args.state_backend:
        conf.set("state.backend.type", args.state_backend)
    if args.state_backend == "rocksdb":
        for key, value in ROCKSDB.items():
            conf.set(key, value)
    for ddl in statements(args, password):
        t_env.execute_sql(ddl)
    views = "view_events"
    if args.dedup_window_s > 0:
        conf.set("table.exec.state.ttl", f"{args.dedup_window_s} s")
        register_event_key(t_env)
        views = f"({first_occurrences(views, '`movie_id`')})"
    t_env.execute_sql(f"INSERT INTO stats SELECT movie_id, COUNT(*) FROM {views} GROUP BY movie_id")


if __name__ == "__main__":
    main(sys.argv[1:])
