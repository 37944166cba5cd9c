"""Helpers shared by the read-model integration tests: seed rows exactly as the stream job writes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from deploy.settings import Settings

# The stream job's statement, guard included (see stream/): the only way rows reach movie_stats.
UPSERT = """
INSERT INTO movie_stats (movie_id, title, year, genre, view_count, watch_seconds, first_viewed_at,
                         last_viewed_at, version, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (movie_id) DO UPDATE SET title = EXCLUDED.title, year = EXCLUDED.year, genre = EXCLUDED.genre,
    view_count = EXCLUDED.view_count, watch_seconds = EXCLUDED.watch_seconds,
    first_viewed_at = EXCLUDED.first_viewed_at, last_viewed_at = EXCLUDED.last_viewed_at,
    version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
WHERE movie_stats.version < EXCLUDED.version
"""

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Snapshot:
    movie_id: str
    view_count: int
    genre: str | None = "drama"
    version: int = 1
    title: str | None = None
    year: int | None = 1999
    watch_seconds: int = 0
    updated_at: datetime = T0

    def params(self) -> tuple[object, ...]:
        title = self.title or f"Title {self.movie_id}"
        return (
            self.movie_id,
            title,
            self.year,
            self.genre,
            self.view_count,
            self.watch_seconds,
            T0,
            T0,
            self.version,
            self.updated_at,
        )


# Five movies over two genres, a tie at 50 and a count past 2^31.
SEED_RANKING = [
    Snapshot("m-0003", 50, genre="drama", watch_seconds=7),
    Snapshot("m-0001", 50, genre="comedy", updated_at=T0 + timedelta(seconds=5)),
    Snapshot("m-0002", 90, genre="drama"),
    Snapshot("m-0004", 10, genre="drama"),
    Snapshot("m-0005", 3_000_000_000, genre="comedy"),
]


def writer_conninfo(settings: Settings) -> str:
    return settings.writer_dsn


def reader_conninfo(settings: Settings) -> str:
    return settings.reader_dsn


def upsert(settings: Settings, snapshots: Sequence[Snapshot]) -> int:
    """Write as the stream job's role; returns how many rows the version guard let through."""
    with psycopg.connect(writer_conninfo(settings)) as conn, conn.cursor() as cur:
        written = 0
        for snapshot in snapshots:
            cur.execute(UPSERT, snapshot.params())
            written += cur.rowcount
        return written
