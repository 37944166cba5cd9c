"""The job's one statement for a flush with trending (stream.upsert.flush_sql), run by Postgres: both tables
under their own version guards, a minute boundary's row moving only the windows."""

from __future__ import annotations

import psycopg
from readmodel_fixtures import batch

from deploy.settings import Settings
from stream.upsert import TABLE, TRENDING_TABLE, flush_sql

FLUSH = flush_sql(TABLE, TRENDING_TABLE).replace("?", "%s")
MS = 1_700_000_000_000


def flush(settings: Settings, *rows: tuple[object, ...]) -> None:
    """Each row in a statement of its own, as the job's sink sends a movie's rows (UpsertSink.java)."""
    with psycopg.connect(settings.writer_dsn) as conn:
        for row in rows:
            conn.execute(FLUSH, batch(row))


def snapshot(
    views: int, version: int, hour: int, trend_version: int, movie: str = "m-1"
) -> tuple[object, ...]:
    stats = (movie, "Heat", 1995, "crime", views, views * 60, MS, MS + views, version)
    return (*stats, hour, hour, MS + 60_000, trend_version)


def boundary(hour: int, day: int, trend_version: int, movie: str = "m-1") -> tuple[object, ...]:
    return (movie, *(None,) * 8, hour, day, MS + 120_000, trend_version)


def stored(settings: Settings) -> tuple[object, ...]:
    with psycopg.connect(settings.reader_dsn) as conn:
        stats = conn.execute(f"SELECT view_count, version FROM {TABLE} ORDER BY movie_id").fetchall()
        trending = conn.execute(
            f"SELECT hour_views, day_views, version FROM {TRENDING_TABLE} ORDER BY movie_id"
        ).fetchall()
    return stats, trending


def test_a_flush_row_writes_the_count_and_the_windows_and_a_boundary_row_only_the_windows(
    fresh_database: Settings,
) -> None:
    flush(fresh_database, snapshot(3, version=3, hour=3, trend_version=3))
    assert stored(fresh_database) == ([(3, 3)], [(3, 3, 3)])

    flush(fresh_database, boundary(hour=0, day=3, trend_version=4))
    assert stored(fresh_database) == ([(3, 3)], [(0, 3, 4)])


def test_a_replayed_older_flush_row_changes_neither_table(fresh_database: Settings) -> None:
    flush(
        fresh_database,
        snapshot(5, version=5, hour=5, trend_version=5),
        snapshot(4, version=4, hour=4, trend_version=4),
    )
    assert stored(fresh_database) == ([(5, 5)], [(5, 5, 5)])


def test_one_statement_writes_a_batch_of_movies_each_under_its_own_guards(fresh_database: Settings) -> None:
    flush(fresh_database, snapshot(5, version=5, hour=5, trend_version=5, movie="m-1"))
    rows = (
        snapshot(4, version=4, hour=4, trend_version=4, movie="m-1"),  # replayed: older on both tables
        snapshot(2, version=2, hour=2, trend_version=2, movie="m-2"),
        boundary(hour=0, day=0, trend_version=1, movie="m-3"),
    )
    with psycopg.connect(fresh_database.writer_dsn) as conn:
        conn.execute(FLUSH, batch(*rows))
    assert stored(fresh_database) == ([(5, 5), (2, 2)], [(5, 5, 5), (2, 2, 2), (0, 0, 1)])
