"""The statements snapshots and trending rows reach Postgres by: upserts guarded by version. Plain constants,
free of PyFlink, so the read-model tests seed rows with the very statement the job runs."""

from __future__ import annotations

TABLE = "movie_stats"

# Timestamps travel as epoch millis and are converted in SQL, so the JVM's time zone never shifts them.
UPSERT_SQL = f"""
INSERT INTO {TABLE} AS stored (movie_id, title, year, genre, view_count, watch_seconds, first_viewed_at,
    last_viewed_at, version, updated_at)
VALUES (?, ?, ?, ?, ?, ?, to_timestamp(? / 1000.0), to_timestamp(? / 1000.0), ?, now())
ON CONFLICT (movie_id) DO UPDATE SET title = EXCLUDED.title, year = EXCLUDED.year, genre = EXCLUDED.genre,
    view_count = EXCLUDED.view_count, watch_seconds = EXCLUDED.watch_seconds,
    first_viewed_at = EXCLUDED.first_viewed_at, last_viewed_at = EXCLUDED.last_viewed_at,
    version = EXCLUDED.version, updated_at = now()
WHERE stored.version < EXCLUDED.version
"""

# java.sql.Types codes of the placeholders, in order (stream.taskmanager.rows.SNAPSHOT_FIELDS).
VARCHAR, INTEGER, BIGINT = 12, 4, -5
PARAMETER_TYPES = [VARCHAR, VARCHAR, INTEGER, VARCHAR, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT]

TRENDING_TABLE = "movie_trending"
# `<=`, not `<`: the version counts changes (views added, minute boundaries crossed), and after a restore the
# replay may interleave views and watermarks differently, reaching an equal version with the final state.
TRENDING_UPSERT_SQL = f"""
INSERT INTO {TRENDING_TABLE} AS stored (movie_id, hour_views, day_views, window_end, version, updated_at)
VALUES (?, ?, ?, to_timestamp(? / 1000.0), ?, now())
ON CONFLICT (movie_id) DO UPDATE SET hour_views = EXCLUDED.hour_views, day_views = EXCLUDED.day_views,
    window_end = EXCLUDED.window_end, version = EXCLUDED.version, updated_at = now()
WHERE stored.version <= EXCLUDED.version
"""
# The trending row's placeholders, in order (stream.taskmanager.rows.TRENDING_FIELDS).
TRENDING_PARAMETER_TYPES = [VARCHAR, BIGINT, BIGINT, BIGINT, BIGINT]
