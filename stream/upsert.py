"""The statement every snapshot reaches Postgres by: an upsert guarded by version. Plain constants, free of
PyFlink, so the read-model tests seed rows with the very statement the job runs."""

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
