"""The job graph: Kafka (views, movies) -> the event_id check (SQL, JVM) -> each view read in the JVM
(`stream.viewreader`) -> per 100 ms, views summed per movie and minute (SQL window aggregate), and every other
record batched per partition into decode_batch (Python Table function: registrations, views of writers the JVM
reader does not know, dead letters) -> route (dead letters off) -> key_by(movie) -> MovieStats -> Postgres
(forward: one writer per movie).

Every record that crosses into Python costs tens of microseconds, so views cross summed per movie: the keyed
ValueState stays the per-movie truth, and versions stay deterministic (a version counts the events applied,
however they were grouped). The source is the Table API Kafka connector with the `raw` format and metadata
columns, because a dead letter names topic, partition and offset.
"""

from __future__ import annotations

import sys

from pyflink.common import Configuration, Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment, TableEnvironment
from pyflink.table.udf import udtf

from ground.kafka import KafkaAccess, java_properties
from schemas.catalog import Catalog
from stream.config import WRITER_ROLE, JobConfig
from stream.sinks import UPSERT_STAGE, dead_letter_sink, postgres_sink
from stream.taskmanager.deadletters import STATE_STAGE
from stream.taskmanager.functions import DEAD_LETTERS, DecodeBatch, MovieStats, Route
from stream.taskmanager.rows import BATCH_OUTPUT_TYPES, EVENT_TYPE, FLUSH_TYPE, SNAPSHOT_TYPE, VIEWS
from stream.upsert import ELEMENT_TYPES, FLUSH_ELEMENT_TYPES, flush_sql, upsert_sql
from stream.viewreader import (
    BOUNDS_PARAMETER,
    FUNCTION,
    FUNCTION_CLASS,
    LAYOUTS_PARAMETER,
    view_bounds,
    view_layouts,
)

SOURCE_TABLE = "kafka_events"
# The source with every event_id after its first occurrence dropped (see stream/DEDUP.md).
ONCE_VIEW = "kafka_events_once"
# Every record with what the JVM view reader made of it: a movie id, or null for the Python decoder.
READ_VIEW = "kafka_events_read"
DECODE_FUNCTION = "decode_batch"
# Views are summed per movie over this much processing time (and the other records batched per partition):
# at 50k events/s over 1,000 movies, a few hundred summed rows instead of 5,000 views reach the keyed state.
BATCH_MS = 100

# Trending's event time: the Kafka record timestamp (producers stamp it when the event occurs; the ingest
# publishers create events and send them in the same moment), watermarked at the source per partition. The
# windows are exact whatever the lateness up to a day (stream/taskmanager/trending.py), so the delay only
# decides whether a minute's views enter the windows on arrival or at the boundary: one second.
WATERMARK_DELAY_S = 1
# A partition that receives nothing (the registrations topic, mostly) must not hold the watermark back.
IDLE_TIMEOUT = "2 s"

# The state backend is a setting (`JobConfig.state_backend`, MOVIEVIEWS_STATE_BACKEND); rocksdb is the default
# because what grows with traffic must not live on the JVM heap. The deduplication remembers every event id
# for the window (rate x window entries: a day at 350 events/s is 30M ids), and the per-movie rows and
# trending minutes grow with the catalogue. On hashmap all of it is Java objects on the TaskManager's 2.2 GB
# heap, copied in full at each checkpoint: at about 7M remembered ids (or 2.1M movies) the old generation
# stayed full, collections ran back to back, heartbeats were missed and every job on the TaskManager
# restarted, the live one included. On rocksdb each entry is a serialised key and value in files on local
# disk, read through a block cache and written through memtables that the slot's managed memory bounds
# (`state.backend.rocksdb.memory.managed`, Flink's default), so the heap holds only what is in flight, and an
# incremental checkpoint uploads only the files written since the last one. It costs the 1,000-movie
# throughput little once the views are summed in the JVM (docs/PERFORMANCE.md, "Endurance").
#
# Expired ids leave RocksDB in compactions: for SQL state TTL (`table.exec.state.ttl`) Flink 1.20 enables its
# compaction filter by default (cleanup in background; the current time read every 1,000 entries), which
# drops an entry whose TTL timestamp has passed whenever RocksDB rewrites its file. Flink also sets that
# column family's periodic compaction to 30 days, not configurable from SQL, so expiry relies on ordinary
# compactions: every checkpoint flushes the memtables into a new file, universal compaction merges files of
# similar size, and once the newer files hold half as much as the oldest run it compacts them all into one
# (UniversalCompaction.java), dropping the expired ids; the steady state holds one window of ids plus up to
# half a window awaiting that compaction (`tests/integration/test_endurance.py` and `movieviews bench soak`
# measure the plateau). hashmap remains a choice for small state (no serialisation or JNI per access); its
# TTL entries are removed incrementally as state is accessed and at full snapshots.

# RocksDB, sized for the slot's share of managed memory (the deduplication's block cache is 179 MB with
# deploy/flink/config.yaml, its memtables charged to it). Each option below and what it changed, measured with
# one job timed to exact totals over pre-loaded views: docs/PERFORMANCE.md, "RocksDB tuned".
# - Memtables of 16 MB. RocksDB counts a memtable at its arena blocks (write buffer size / 8 each, one per
#   column family written); at the default 64 MB, six column families' 8 MB blocks put the slot's write
#   buffer manager over its limit, and RocksDB flushed constantly, writing thousands of tiny SST files.
# - Bloom filters: most ids the deduplication looks up are new, and a filter answers "not here" without
#   reading the file.
# - Partitioned index and filter blocks: once one SST's whole filter and index blocks no longer stay in the
#   cache beside the memtables, each lookup re-reads them; partitioned, a lookup loads only the partitions it
#   needs, so the job does not collapse past about a million ids.
ROCKSDB = {
    "state.backend.rocksdb.writebuffer.size": "16 mb",
    "state.backend.rocksdb.use-bloom-filter": "true",
    "state.backend.rocksdb.memory.partitioned-index-filters": "true",
    # Universal compaction, bounded at 1.5 windows of ids on disk, at the lowest CPU priority
    # (UniversalCompaction.java says why).
    "state.backend.rocksdb.options-factory": "movieviews.stream.UniversalCompaction",
    # RocksDB's max_background_jobs: one flush and up to three compactions at a time (Flink's default of 2
    # allows one compaction). A full compaction of tens of millions of ids runs for a minute or more; with a
    # single compaction slot nothing merged the files that the checkpoints flushed meanwhile, and the job
    # stalled for 13-48 s at each one. With three, the newer files are merged beside it.
    "state.backend.rocksdb.thread.num": "4",
    # RocksDB's own count of entries per column family (an estimate: expired ids not yet compacted away are
    # counted) and the size of its files: the remembered ids and the disk they take, in `status` and
    # `bench soak`. Each is one property read per metric report.
    "state.backend.rocksdb.metrics.estimate-num-keys": "true",
    "state.backend.rocksdb.metrics.total-sst-files-size": "true",
}

# Keeps restarting through an outage of any length (Postgres or Kafka down for minutes), waiting 1, 2, 4...
# seconds, capped at 30 s, so the job resumes within 30 s of the outage's end. A job that cannot start at all
# keeps restarting too: `movieviews status` shows it RESTARTING with its restart count and last failure
# (the `numRestarts` metric). After 5 minutes without a failure the delay starts again from 1 s.
RESTART_STRATEGY = {
    "restart-strategy.type": "exponential-delay",
    "restart-strategy.exponential-delay.initial-backoff": "1 s",
    "restart-strategy.exponential-delay.backoff-multiplier": "2.0",
    "restart-strategy.exponential-delay.max-backoff": "30 s",
    "restart-strategy.exponential-delay.reset-backoff-threshold": "5 min",
    "restart-strategy.exponential-delay.jitter-factor": "0.1",
}


def job_configuration(config: JobConfig, restore_from: str | None) -> Configuration:
    conf = Configuration()
    settings = {
        "pipeline.name": config.name,
        "parallelism.default": str(config.parallelism),
        # Thread mode runs Python inside the TaskManager (pemja): 3-5x the throughput of process mode here.
        "python.execution-mode": "thread",
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "state.backend.type": config.state_backend,
        # Only the files written since the last checkpoint (rocksdb; the hashmap backend ignores it).
        "execution.checkpointing.incremental": "true",
        **RESTART_STRATEGY,
        # Without it, chained operators get deep copies of their input: each 100 ms batch (~1,000 payloads)
        # was copied on the way to the decode function, a third of that thread's time. No function
        # here keeps or mutates an input row after returning, which is what object reuse requires.
        "pipeline.object-reuse": "true",
        # A network buffer leaves when full (under load) or after this long (Flink's default 100 ms, paid at
        # each of the job's two exchanges when few records flow).
        "execution.buffer-timeout.interval": "10 ms",
        # Table operators get uids derived from the plan, so the Kafka source's offsets survive a savepoint.
        "table.exec.uid.generation": "ALWAYS",
        # Only the event_id deduplication keeps state by TTL (the window aggregate clears its own): an id is
        # forgotten this long after it was first seen.
        "table.exec.state.ttl": f"{max(config.dedup_window_s, 1)} s",
        "table.exec.source.idle-timeout": IDLE_TIMEOUT,
        # The headers of the writers the JVM view reader knows and the bounds of a valid field
        # (stream.viewreader); no ',' or ':' inside either.
        "pipeline.global-job-parameters": (
            f"{LAYOUTS_PARAMETER}:{view_layouts(Catalog.bundled())},{BOUNDS_PARAMETER}:{view_bounds()}"
        ),
    }
    if config.state_backend == "rocksdb":
        settings |= ROCKSDB
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


def kafka_options(kafka: KafkaAccess) -> str:
    """The Kafka connector's `properties.*` options: the client properties of `ground.kafka`, quoted."""
    options = [(f"properties.{key}", value) for key, value in java_properties(kafka).items()]
    return ",\n            ".join(f"{_quoted(key)} = {_quoted(value)}" for key, value in options)


def _quoted(text: str) -> str:
    """A Flink SQL string literal (a quote inside is doubled)."""
    return "'" + text.replace("'", "''") + "'"


# 'earliest-offset', not the group's committed offsets: a start without restored state must rebuild every
# movie's state from the whole log, or it counts from the middle and the version guard then rejects its lower
# versions, freezing the read model. A restore (checkpoint or savepoint) takes its offsets from the state.
def source_ddl(config: JobConfig, kafka: KafkaAccess) -> str:
    event_time = (
        f""",
            `ts` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
            WATERMARK FOR `ts` AS `ts` - INTERVAL '{WATERMARK_DELAY_S}' SECOND"""
        if config.trending
        else ""
    )
    return f"""
        CREATE TABLE {SOURCE_TABLE} (
            `topic` STRING METADATA VIRTUAL,
            `partition` INT METADATA VIRTUAL,
            `offset` BIGINT METADATA VIRTUAL,
            `payload` BYTES,
            `proc` AS PROCTIME(){event_time}
        ) WITH (
            'connector' = 'kafka',
            'topic' = '{config.views_topic};{config.movies_topic}',
            {kafka_options(kafka)},
            'properties.group.id' = '{config.group_id}',
            'scan.startup.mode' = 'earliest-offset',
            'format' = 'raw'
        )
    """


# What the deduplication keys a record by: its `event_id` when the record starts like an event (in
# single-object encoding every event schema's first field, a UUID string, is bytes 11-46 whatever the writer
# version; the key leaves out the fingerprint, so the same event written by another writer version, or under
# the avro-package fingerprint variant, is the same event); else its own position, so a record that does not
# look like that (random bytes, a tombstone, an event cut short inside its id) is never taken for a duplicate
# and reaches the dead letters. A JVM function on the payload's bytes (EventKey.java, which says how), not SQL
# string functions: Flink SQL has no SUBSTRING of BYTES, and decoding every payload to a string to cut it,
# then encoding the key back to UTF-8 to hash and store it, was the source task's largest cost.
EVENT_KEY_FUNCTION = "event_key"
EVENT_KEY_CLASS = "movieviews.stream.EventKey"
EVENT_KEY = f"{EVENT_KEY_FUNCTION}(`payload`, `topic`, `partition`, `offset`)"


def first_occurrences(source: str, columns: str) -> str:
    """`columns` of the rows of `source` (a Kafka table with `topic`, `partition`, `offset`, `payload` and a
    processing-time `proc`) whose event id was not seen before: Flink SQL's deduplication (first row per key
    by processing time: append-only, keyed state in the JVM, no Python per event). Its state is one entry per
    id, expired by `table.exec.state.ttl`. The throughput benchmark's baseline runs the same check. Needs
    `EVENT_KEY_FUNCTION` registered (`register_event_key`)."""
    return f"""
        SELECT {columns} FROM (
            SELECT *, ROW_NUMBER() OVER (PARTITION BY `event_key` ORDER BY `proc` ASC) AS `occurrence`
            FROM (SELECT *, {EVENT_KEY} AS `event_key` FROM {source})
        ) WHERE `occurrence` = 1
    """


def register_event_key(t_env: TableEnvironment) -> None:
    t_env.create_java_temporary_function(EVENT_KEY_FUNCTION, EVENT_KEY_CLASS)


def read_view_ddl(source: str) -> str:
    return f"""
        CREATE TEMPORARY VIEW {READ_VIEW} AS
        SELECT s.`topic`, s.`partition`, s.`offset`, s.`payload`, s.`proc`,
            v.`movie_id`, v.`occurred_ms`, v.`watch_seconds`, v.`event_minute`
        FROM {source} AS s
        LEFT JOIN LATERAL TABLE({FUNCTION}(s.`payload`))
            AS v(`movie_id`, `occurred_ms`, `watch_seconds`, `event_minute`) ON TRUE
    """


def events_query() -> str:
    """Rows of `stream.taskmanager.rows.EVENT_TYPE` plus the dead letter: the views the JVM read, summed per
    movie and event-time minute (`minutes` as `trending.encode_counts` writes it); and what decode_batch
    makes of the other records. Both ARRAY_AGGs see the rows in one order, so offsets and payloads stay
    aligned; a null value (tombstone) becomes empty bytes, so none is skipped."""
    window = f"TABLE(TUMBLE(TABLE {READ_VIEW}, DESCRIPTOR(`proc`), INTERVAL '{BATCH_MS / 1000}' SECOND))"
    return f"""
        SELECT `movie_id`, {VIEWS}, COUNT(*), SUM(`watch_seconds`), MIN(`occurred_ms`), MAX(`occurred_ms`),
            CAST(NULL AS STRING), CAST(NULL AS INT), CAST(NULL AS STRING),
            CONCAT(CAST(`event_minute` AS STRING), ':', CAST(COUNT(*) AS STRING)), CAST(NULL AS STRING)
        FROM {window}
        WHERE `movie_id` IS NOT NULL
        GROUP BY `window_start`, `window_end`, `movie_id`, `event_minute`
        UNION ALL
        SELECT b.`movie_id`, CAST(b.`kind` AS INT), b.`count`, b.`watch_seconds`, b.`first_ms`, b.`last_ms`,
            b.`title`, CAST(b.`year` AS INT), b.`genre`, b.`minutes`, b.`letter`
        FROM (
            SELECT `topic`, `partition`, ARRAY_AGG(`offset`) AS `offsets`,
                ARRAY_AGG(COALESCE(`payload`, X'')) AS `payloads`
            FROM {window}
            WHERE `movie_id` IS NULL
            GROUP BY `window_start`, `window_end`, `topic`, `partition`
        ) AS w,
        LATERAL TABLE({DECODE_FUNCTION}(w.`topic`, w.`partition`, w.`offsets`, w.`payloads`))
            AS b(`movie_id`, `kind`, `count`, `watch_seconds`, `first_ms`, `last_ms`, `title`, `year`,
                `genre`, `minutes`, `letter`)
    """


def build(env: StreamExecutionEnvironment, config: JobConfig, pg_password: str, kafka: KafkaAccess) -> None:
    """`kafka`: how the job's clients (its source, both dead-letter producers, the schema resolver) reach
    the brokers, as the job's principal."""
    t_env = StreamTableEnvironment.create(env)
    t_env.execute_sql(source_ddl(config, kafka))
    source = SOURCE_TABLE
    if config.dedup_window_s > 0:
        columns = "`topic`, `partition`, `offset`, `payload`, `proc`"
        register_event_key(t_env)
        t_env.execute_sql(f"CREATE TEMPORARY VIEW {ONCE_VIEW} AS {first_occurrences(SOURCE_TABLE, columns)}")
        source = ONCE_VIEW
    t_env.create_java_temporary_function(FUNCTION, FUNCTION_CLASS)
    t_env.execute_sql(read_view_ddl(source))
    decode = DecodeBatch(kafka, config.schemas_topic)
    t_env.create_temporary_function(DECODE_FUNCTION, udtf(decode, result_types=BATCH_OUTPUT_TYPES))
    rows = t_env.to_data_stream(t_env.sql_query(events_query()))
    events = rows.process(Route(), output_type=EVENT_TYPE).name("route").uid("route")
    if config.trending:
        output_type, sql = FLUSH_TYPE, flush_sql(config.stats_table, config.trending_table)
        element_types = FLUSH_ELEMENT_TYPES
    else:
        output_type, sql, element_types = SNAPSHOT_TYPE, upsert_sql(config.stats_table), ELEMENT_TYPES
    snapshots = (
        events.key_by(lambda row: row[0], key_type=Types.STRING())
        .process(MovieStats(config.flush_interval_ms, bool(config.trending)), output_type=output_type)
        .name(STATE_STAGE)
        .uid(STATE_STAGE)
    )
    # Undecodable records (route) and rows the keyed state refuses (movie-stats), to one Kafka sink; the rows
    # Postgres refuses leave from the upsert sink itself (UpsertSink.java).
    dead_letters = events.get_side_output(DEAD_LETTERS).union(snapshots.get_side_output(DEAD_LETTERS))
    dead_letters.sink_to(dead_letter_sink(kafka, config.dlq_topic)).name("dead-letters").uid(
        "dead-letter-sink"
    )
    # One sink subtask owns each movie (two writers' overlapping batches deadlock Postgres): the sink takes
    # MovieStats's output on a forward edge, so subtask i writes the movies of key groups that subtask i of
    # the keyed function owns, with no second key_by. A key_by here cost a Python `map` per row to unwrap
    # the KeyedStream's Row(key, value) (`sink_to` does not), per snapshot.
    # Not chained: on a thread of its own the sink waits for Postgres while `movie-stats` goes on (chained vs
    # unchained at 100,000 movies: docs/PERFORMANCE.md, "The sink on its own thread, a batch per statement").
    # The edge's buffer leaves within `execution.buffer-timeout.interval` (10 ms) when rows are few.
    to_postgres = postgres_sink(
        config.jdbc_url, WRITER_ROLE, pg_password, sql, element_types, (kafka, config.dlq_topic)
    )
    snapshots.sink_to(to_postgres).name(UPSERT_STAGE).uid(UPSERT_STAGE).disable_chaining()
