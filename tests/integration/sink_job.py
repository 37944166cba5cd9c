"""A job of one sink for the refusal tests: the snapshot rows given (`rows.SNAPSHOT_FIELDS`, a JSON list) ->
the job's Postgres sink (stream.sinks.postgres_sink, UpsertSink.java) under the job's restart strategy. The
rows go straight into the sink, past every check upstream of it.

Run by `flink run -py` with: rows_json jdbc_url user password bootstrap dlq_topic stream_jar.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pyflink.common import Configuration, Row
from pyflink.datastream import StreamExecutionEnvironment

from ground.kafka import KafkaAccess
from stream.sinks import UPSERT_STAGE, postgres_sink
from stream.taskmanager.rows import SNAPSHOT_TYPE
from stream.topology import RESTART_STRATEGY
from stream.upsert import ELEMENT_TYPES, UPSERT_SQL


def main(
    rows: str, jdbc_url: str, user: str, password: str, bootstrap: str, dlq_topic: str, jar: str
) -> None:
    conf = Configuration()
    for key, value in {**RESTART_STRATEGY, "parallelism.default": "1"}.items():
        conf.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.add_jars(Path(jar).resolve().as_uri())
    source = env.from_collection([Row(*row) for row in json.loads(rows)], type_info=SNAPSHOT_TYPE)
    sink = postgres_sink(
        jdbc_url, user, password, UPSERT_SQL, ELEMENT_TYPES, (KafkaAccess(bootstrap), dlq_topic)
    )
    source.sink_to(sink).name(UPSERT_STAGE)
    env.execute(f"sink-refusals-{dlq_topic}")


if __name__ == "__main__":
    main(*sys.argv[1:8])
