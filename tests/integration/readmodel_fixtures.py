"""Helpers shared by the read-model integration tests: seed rows exactly as the stream job writes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from deploy.settings import Settings
from stream.upsert import TABLE, UPSERT_SQL

# The stream job's own statement, guard included: the only way rows reach movie_stats. It binds JDBC `?`
# placeholders (one array per column, a batch of rows) and epoch millis; psycopg binds `%s`.
UPSERT = UPSERT_SQL.replace("?", "%s")
SET_UPDATED_AT = f"UPDATE {TABLE} SET updated_at = %s WHERE movie_id = %s AND version = %s"

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

    def params(self) -> tuple[list[object], ...]:
        """The job's statement's parameters for this snapshot alone: a batch of one row."""
        title = self.title or f"Title {self.movie_id}"
        t0_ms = int(T0.timestamp() * 1000)
        row = (self.movie_id, title, self.year, self.genre, self.view_count, self.watch_seconds)
        return batch((*row, t0_ms, t0_ms, self.version))


def batch(*rows: Sequence[object]) -> tuple[list[object], ...]:
    """The upsert statements' parameters (stream.upsert) for `rows`: one array per column."""
    return tuple(list(column) for column in zip(*rows, strict=True))


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
            if cur.rowcount == 1:
                written += 1
                # The job stamps now(); a test pins the time its assertions name.
                cur.execute(SET_UPDATED_AT, (snapshot.updated_at, snapshot.movie_id, snapshot.version))
        return written
