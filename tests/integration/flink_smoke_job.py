"""A minimal job for the stack test: Kafka topic (connector jar) -> JDBC connector -> Postgres table.

Run by `flink run -py` with: topic bootstrap jdbc_url user password table.
"""

from __future__ import annotations

import sys

from pyflink.table import EnvironmentSettings, TableEnvironment


def main(topic: str, bootstrap: str, jdbc_url: str, user: str, password: str, table: str) -> None:
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.execute_sql(f"""
        CREATE TABLE source (line STRING) WITH (
          'connector' = 'kafka', 'topic' = '{topic}', 'properties.bootstrap.servers' = '{bootstrap}',
          'properties.group.id' = 'smoke-{topic}', 'scan.startup.mode' = 'earliest-offset',
          'format' = 'raw')""")
    t_env.execute_sql(f"""
        CREATE TABLE sink (line STRING, PRIMARY KEY (line) NOT ENFORCED) WITH (
          'connector' = 'jdbc', 'url' = '{jdbc_url}', 'table-name' = '{table}',
          'username' = '{user}', 'password' = '{password}', 'sink.buffer-flush.interval' = '200ms')""")
    t_env.execute_sql("INSERT INTO sink SELECT line FROM source")


if __name__ == "__main__":
    main(*sys.argv[1:7])
