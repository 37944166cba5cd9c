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


def upsert_sql(table: str) -> str:
    """Timestamps travel as epoch millis and are converted in SQL: the JVM's time zone never shifts them."""
    return f"""
INSERT INTO {table} AS stored (movie_id, title, year, genre, view_count, watch_seconds, first_viewed_at,
    last_viewed_at, version, updated_at)
VALUES (?, ?, ?, ?, ?, ?, to_timestamp(? / 1000.0), to_timestamp(? / 1000.0), ?, now())
ON CONFLICT (movie_id) DO UPDATE SET title = EXCLUDED.title, year = EXCLUDED.year, genre = EXCLUDED.genre,
    view_count = EXCLUDED.view_count, watch_seconds = EXCLUDED.watch_seconds,
    first_viewed_at = EXCLUDED.first_viewed_at, last_viewed_at = EXCLUDED.last_viewed_at,
    version = EXCLUDED.version, updated_at = now()
WHERE stored.version < EXCLUDED.version
"""


UPSERT_SQL = upsert_sql(TABLE)

# java.sql.Types codes of the placeholders, in order (stream.taskmanager.rows.SNAPSHOT_FIELDS).
VARCHAR, INTEGER, BIGINT = 12, 4, -5
PARAMETER_TYPES = [VARCHAR, VARCHAR, INTEGER, VARCHAR, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT]


def trending_upsert_sql(table: str) -> str:
    """`<=`, not `<`: the version counts changes (views added, minute boundaries crossed), and after a restore
    the replay may interleave views and watermarks differently, reaching an equal version with the final
    state."""
    return f"""
INSERT INTO {table} AS stored (movie_id, hour_views, day_views, window_end, version, updated_at)
VALUES (?, ?, ?, to_timestamp(? / 1000.0), ?, now())
ON CONFLICT (movie_id) DO UPDATE SET hour_views = EXCLUDED.hour_views, day_views = EXCLUDED.day_views,
    window_end = EXCLUDED.window_end, version = EXCLUDED.version, updated_at = now()
WHERE stored.version <= EXCLUDED.version
"""


# The trending row's placeholders, in order (stream.taskmanager.rows.TRENDING_FIELDS).
TRENDING_PARAMETER_TYPES = [VARCHAR, BIGINT, BIGINT, BIGINT, BIGINT]
