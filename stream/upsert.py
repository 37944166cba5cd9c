"""The statements snapshots and trending rows reach Postgres by: upserts guarded by version. Plain constants,
free of PyFlink, so the read-model tests seed rows with the very statement the job runs."""

from __future__ import annotations

TABLE = "movie_stats"
TRENDING_TABLE = "movie_trending"
# Read-model versions (blue/green, deploy/rebuild.py): slot 1 is the original pair of tables, slot 2 the `_v2`
# pair (migration 0004). The job writes one slot; the API reads the `_current` views, which name one slot.
SLOTS = (1, 2)


def stats_table(slot: int) -> str:
    return TABLE if slot == 1 else f"{TABLE}_v{slot}"


def trending_table(slot: int) -> str:
    return TRENDING_TABLE if slot == 1 else f"{TRENDING_TABLE}_v{slot}"


# The snapshot columns of `stream.taskmanager.rows.SNAPSHOT_FIELDS`, in order, and their guarded update.
_STATS_COLUMNS = """movie_id, title, year, genre, view_count, watch_seconds, first_viewed_at,
    last_viewed_at, version, updated_at"""
_STATS_UPDATE = """ON CONFLICT (movie_id) DO UPDATE SET title = EXCLUDED.title, year = EXCLUDED.year,
    genre = EXCLUDED.genre, view_count = EXCLUDED.view_count, watch_seconds = EXCLUDED.watch_seconds,
    first_viewed_at = EXCLUDED.first_viewed_at, last_viewed_at = EXCLUDED.last_viewed_at,
    version = EXCLUDED.version, updated_at = now()
WHERE stored.version < EXCLUDED.version"""
# `<=`, not `<`: the trending version counts changes (views added, minute boundaries crossed), and after a
# restore the replay may interleave views and watermarks differently, reaching an equal version with the final
# state.
_TRENDING_COLUMNS = "movie_id, hour_views, day_views, window_end, version, updated_at"
_TRENDING_UPDATE = """ON CONFLICT (movie_id) DO UPDATE SET hour_views = EXCLUDED.hour_views,
    day_views = EXCLUDED.day_views, window_end = EXCLUDED.window_end, version = EXCLUDED.version,
    updated_at = now()
WHERE stored.version <= EXCLUDED.version"""


# A batch of rows is one statement (stream/jvm/src/movieviews/stream/UpsertSink.java): each placeholder is a
# column's array, read back by unnest. The snapshot columns (stream.taskmanager.rows.SNAPSHOT_FIELDS), in
# order, with each array's element type as the sink creates it; a flush row's (FLUSH_FIELDS) add trending's.
ELEMENT_TYPES = ["text", "text", "int4", "text", "int8", "int8", "int8", "int8", "int8"]
FLUSH_ELEMENT_TYPES = [*ELEMENT_TYPES, "int8", "int8", "int8", "int8"]


def _unnest(element_types: list[str]) -> str:
    return "unnest(" + ", ".join(f"CAST(? AS {element}[])" for element in element_types) + ")"


def upsert_sql(table: str) -> str:
    """Timestamps travel as epoch millis and are converted in SQL: the JVM's time zone never shifts them."""
    return f"""
INSERT INTO {table} AS stored ({_STATS_COLUMNS})
SELECT movie_id, title, year, genre, view_count, watch_seconds, to_timestamp(first_ms / 1000.0),
    to_timestamp(last_ms / 1000.0), version, now()
FROM {_unnest(ELEMENT_TYPES)}
    AS snapshot (movie_id, title, year, genre, view_count, watch_seconds, first_ms, last_ms, version)
{_STATS_UPDATE}
"""


UPSERT_SQL = upsert_sql(TABLE)


def flush_sql(table: str, trending_table: str) -> str:
    """With trending, flush rows (stream.taskmanager.rows.FLUSH_FIELDS) write both tables in one statement,
    each under its own guard; a row with a null snapshot version (a minute boundary) writes only the windows.
    Both tables' triggers notify the same channel, so readers hear of either change as before."""
    return f"""
WITH flushed (movie_id, title, year, genre, view_count, watch_seconds, first_ms, last_ms, version,
    hour_views, day_views, window_end_ms, trend_version) AS (
    SELECT * FROM {_unnest(FLUSH_ELEMENT_TYPES)}
), stats AS (
    INSERT INTO {table} AS stored ({_STATS_COLUMNS})
    SELECT movie_id, title, year, genre, view_count, watch_seconds, to_timestamp(first_ms / 1000.0),
        to_timestamp(last_ms / 1000.0), version, now()
    FROM flushed WHERE version IS NOT NULL
    {_STATS_UPDATE}
)
INSERT INTO {trending_table} AS stored ({_TRENDING_COLUMNS})
SELECT movie_id, hour_views, day_views, to_timestamp(window_end_ms / 1000.0), trend_version, now()
FROM flushed
{_TRENDING_UPDATE}
"""
