"""The job graph: Kafka (views, movies) -> decode UDF -> views summed per movie for 100 ms (SQL, JVM) ->
route (dead letters off) -> key_by(movie) -> MovieStats -> key_by(movie) -> Postgres.

Every record that crosses into Python costs tens of microseconds, so each view crosses once, into the decode
UDF, and the keyed state sees one summed row per movie per window: the ValueState stays the per-movie truth,
and versions stay deterministic (a version counts events applied, however they were grouped). The source is
the Table API Kafka connector with the `raw` format and metadata columns, because a dead letter names topic,
partition and offset.
"""

from __future__ import annotations

import sys

from pyflink.common import Configuration, Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment
from pyflink.table.udf import udf

from stream.config import WRITER_ROLE, JobConfig
from stream.functions import DEAD_LETTERS, DecodeEvent, MovieStats, Route
from stream.rows import DECODED_TYPE, EVENT_TYPE, SNAPSHOT_TYPE, VIEWS
from stream.sinks import dead_letter_sink, postgres_sink

SOURCE_TABLE = "kafka_events"
DECODE_FUNCTION = "decode_event"
# Views are summed per movie over this much processing time before they reach the keyed state: at 50k
# events/s over 1,000 Zipf movies, ~5,000 views become a few hundred rows. Short next to the 1 s freshness
# target (plus the 200 ms flush and the JDBC batch interval).
PREAGGREGATE_MS = 100

# hashmap: the state is one small row per movie (~100 bytes; a million movies is ~100 MB of heap), every event
# reads and writes it from Python, and the heap backend avoids RocksDB's serialisation and JNI on each access.
# Full checkpoints of a state this size take milliseconds. RocksDB (incremental) becomes the choice once the
# number of movies outgrows the TaskManager heap.
STATE_BACKEND = "hashmap"
# Bounded, so a job that cannot start (bad jar, bad schema code) fails visibly instead of restarting forever.
RESTART_ATTEMPTS = 10
RESTART_DELAY = "3 s"


def job_configuration(config: JobConfig, restore_from: str | None) -> Configuration:
    conf = Configuration()
    settings = {
        "pipeline.name": config.name,
        "parallelism.default": str(config.parallelism),
        # Thread mode runs Python inside the TaskManager (pemja): 3-5x the throughput of process mode here.
        "python.execution-mode": "thread",
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "state.backend.type": STATE_BACKEND,
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": str(RESTART_ATTEMPTS),
        "restart-strategy.fixed-delay.delay": RESTART_DELAY,
        # Table operators get uids derived from the plan, so the Kafka source's offsets survive a savepoint.
        "table.exec.uid.generation": "ALWAYS",
    }
    if config.checkpoint_interval_ms > 0:
        settings |= {
            "execution.checkpointing.interval": f"{config.checkpoint_interval_ms} ms",
            "execution.checkpointing.mode": "EXACTLY_ONCE",
            "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
            "execution.checkpointing.dir": config.checkpoint_dir,
        }
    if restore_from:
        settings["execution.savepoint.path"] = restore_from
    for key, value in settings.items():
        conf.set_string(key, value)
    return conf


# 'earliest-offset', not the group's committed offsets: a start without restored state must rebuild every
# movie's state from the whole log, or it counts from the middle and the version guard then rejects its lower
# versions, freezing the read model. A restore (checkpoint or savepoint) takes its offsets from the state.
def source_ddl(config: JobConfig) -> str:
    return f"""
        CREATE TABLE {SOURCE_TABLE} (
            `topic` STRING METADATA VIRTUAL,
            `partition` INT METADATA VIRTUAL,
            `offset` BIGINT METADATA VIRTUAL,
            `payload` BYTES,
            `proc` AS PROCTIME()
        ) WITH (
            'connector' = 'kafka',
            'topic' = '{config.views_topic};{config.movies_topic}',
            'properties.bootstrap.servers' = '{config.bootstrap}',
            'properties.group.id' = '{config.group_id}',
            'scan.startup.mode' = 'earliest-offset',
            'format' = 'raw'
        )
    """


def decoded_view() -> str:
    return f"""
        CREATE TEMPORARY VIEW decoded AS
        SELECT `proc`, CAST(d.`kind` AS INT) AS `kind`, d.`movie_id`, d.`occurred_ms`, d.`watch_seconds`,
            d.`title`, CAST(d.`year` AS INT) AS `year`, d.`genre`, d.`letter`
        FROM (
            SELECT `proc`, {DECODE_FUNCTION}(`topic`, `partition`, `offset`, `payload`) AS d
            FROM {SOURCE_TABLE}
        )
    """


def events_query() -> str:
    """Rows of `stream.rows.EVENT_TYPE` plus the dead letter: views summed per movie and window, then the
    rare registrations and rejections one by one."""
    return f"""
        SELECT `movie_id`, `kind`, COUNT(*) AS `count`, SUM(`watch_seconds`) AS `watch_seconds`,
            MIN(`occurred_ms`) AS `first_ms`, MAX(`occurred_ms`) AS `last_ms`,
            CAST(NULL AS STRING) AS `title`, CAST(NULL AS INT) AS `year`, CAST(NULL AS STRING) AS `genre`,
            CAST(NULL AS STRING) AS `letter`
        FROM TABLE(TUMBLE(TABLE decoded, DESCRIPTOR(`proc`), INTERVAL '{PREAGGREGATE_MS / 1000}' SECOND))
        WHERE `kind` = {VIEWS}
        GROUP BY `window_start`, `window_end`, `movie_id`, `kind`
        UNION ALL
        SELECT `movie_id`, `kind`, CAST(1 AS BIGINT), `watch_seconds`, `occurred_ms`, `occurred_ms`, `title`,
            `year`, `genre`, `letter`
        FROM decoded
        WHERE `kind` <> {VIEWS}
    """


def build(env: StreamExecutionEnvironment, config: JobConfig, pg_password: str) -> None:
    t_env = StreamTableEnvironment.create(env)
    t_env.execute_sql(source_ddl(config))
    decode = DecodeEvent(config.bootstrap, config.schemas_topic)
    t_env.create_temporary_function(DECODE_FUNCTION, udf(decode, result_type=DECODED_TYPE))
    t_env.execute_sql(decoded_view())
    rows = t_env.to_data_stream(t_env.sql_query(events_query()))
    events = rows.process(Route(), output_type=EVENT_TYPE).name("route").uid("route")
    events.get_side_output(DEAD_LETTERS).sink_to(dead_letter_sink(config.bootstrap, config.dlq_topic)).name(
        "dead-letters"
    ).uid("dead-letter-sink")
    snapshots = (
        events.key_by(lambda row: row[0], key_type=Types.STRING())
        .process(MovieStats(config.flush_interval_ms), output_type=SNAPSHOT_TYPE)
        .name("movie-stats")
        .uid("movie-stats")
    )
    # Keyed again so one sink subtask owns each movie: two writers' overlapping batches deadlock Postgres.
    # A Python KeyedStream carries Row(key, value) and `sink_to` does not unwrap it; the map does, on
    # coalesced snapshots only, so it costs little.
    by_movie = snapshots.key_by(lambda row: row[0], key_type=Types.STRING())
    by_movie.map(lambda row: row, output_type=SNAPSHOT_TYPE).name("unkey").sink_to(
        postgres_sink(config.jdbc_url, WRITER_ROLE, pg_password)
    ).name("postgres-upsert").uid("postgres-upsert")
