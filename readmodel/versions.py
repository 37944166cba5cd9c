"""Read-model versions: which slot of tables the API reads, switching it, and comparing two slots.

The API reads the views `movie_stats_current` and `movie_trending_current` (migration 0004); each names one
slot's tables (stream.upsert.SLOTS). Switching replaces both views and notifies the API's reused responses in
one transaction: a reader sees the old version or the new one, never a mix. Everything here runs as mv_owner
(the views' owner), from `movieviews rebuild` (deploy/rebuild.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from ground import MovieviewsError
from readmodel import owner
from readmodel.cache import CHANNEL
from readmodel.tables import movie_stats, movie_trending
from stream.upsert import SLOTS, stats_table, trending_table

# SQL view -> the table of a slot it names
SQL_VIEWS = {movie_stats.name: stats_table, movie_trending.name: trending_table}
# What a movie's row is compared on: every column the job writes, but `updated_at` (when it was written).
COMPARED = (
    "version",
    "view_count",
    "watch_seconds",
    "title",
    "year",
    "genre",
    "first_viewed_at",
    "last_viewed_at",
)
# A movie's stored row: the COMPARED values, in order.
Row = tuple[Any, ...]


class VersionError(MovieviewsError):
    """The read model's versions are not as an operation needs (the message says what to run)."""


def _owner(owner_dsn: str) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
    return owner.connect(owner_dsn, VersionError, "read-model versions: Postgres")


def current_slot(owner_dsn: str) -> int:
    """The slot whose tables `movie_stats_current` selects from (Postgres' own record of the dependency)."""
    query = """
        SELECT DISTINCT t.relname FROM pg_rewrite r
        JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass
        JOIN pg_class t ON t.oid = d.refobjid
        WHERE r.ev_class = %s::regclass AND t.oid <> r.ev_class
    """
    with _owner(owner_dsn) as conn:
        names = {name for (name,) in conn.execute(query, (movie_stats.name,))}
    slots = [slot for slot in SLOTS if stats_table(slot) in names]
    if len(slots) != 1:
        raise VersionError(f"{movie_stats.name} names {sorted(names)}, not one slot's table")
    return slots[0]


def other_slot(slot: int) -> int:
    return next(each for each in SLOTS if each != slot)


def view_sql(view: str, table: str) -> sql.Composed:
    return sql.SQL("CREATE OR REPLACE VIEW {} AS SELECT * FROM {}").format(
        sql.Identifier(view), sql.Identifier(table)
    )


def switch(owner_dsn: str, slot: int) -> None:
    """Points both views at `slot` and tells the API's reused responses, in one transaction."""
    with _owner(owner_dsn) as conn, conn.transaction():
        for view, table in SQL_VIEWS.items():
            conn.execute(view_sql(view, table(slot)))
        conn.execute(sql.SQL("NOTIFY {}").format(sql.Identifier(CHANNEL)))


def is_empty(owner_dsn: str, slot: int) -> bool:
    with _owner(owner_dsn) as conn:
        return all(
            conn.execute(
                sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table(slot)))
            ).fetchone()
            == (True,)
            for table in SQL_VIEWS.values()
        )


def empty(owner_dsn: str, slot: int) -> None:
    """Removes a version's rows (never the tables: Alembic owns the schema)."""
    if slot == current_slot(owner_dsn):
        raise VersionError(f"slot {slot} is the version the API reads: it cannot be emptied")
    tables = sql.SQL(", ").join(sql.Identifier(table(slot)) for table in SQL_VIEWS.values())
    with _owner(owner_dsn) as conn:
        conn.execute(sql.SQL("TRUNCATE {}").format(tables))


def rows(owner_dsn: str, slots: tuple[int, int]) -> tuple[dict[str, Row], dict[str, Row]]:
    """Both slots' movie rows, read in one snapshot (REPEATABLE READ), so neither moves between the reads."""
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in ("movie_id", *COMPARED))
    with _owner(owner_dsn) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            found = [
                {
                    row[0]: tuple(row[1:])
                    for row in conn.execute(
                        sql.SQL("SELECT {} FROM {}").format(columns, sql.Identifier(stats_table(slot)))
                    )
                }
                for slot in slots
            ]
    return found[0], found[1]


@dataclass(frozen=True)
class Comparison:
    """A rebuilt version against the live one, movie by movie, by version: a movie's version counts the events
    of its own (one partition's) log the job applied, so two rows of one version are the projection of the
    same log position and must be equal."""

    equal: int = 0
    # The rebuild applied more of the movie's events (it read on after the live job stopped): its counts must
    # not be lower (no reader may see a count go down at the switch).
    ahead: int = 0
    behind: list[str] = field(default_factory=list)
    differ: list[str] = field(default_factory=list)

    @property
    def proved(self) -> bool:
        return not self.behind and not self.differ

    def summary(self) -> str:
        return (
            f"{self.equal} movies equal at the same version, {self.ahead} ahead (events after the live job's "
            f"stop), {len(self.behind)} behind, {len(self.differ)} differ"
            + (f" (e.g. {', '.join(self.differ[:5])})" if self.differ else "")
        )


VERSION, VIEW_COUNT, WATCH_SECONDS = 0, 1, 2


def compare(live: Mapping[str, Row], rebuilt: Mapping[str, Row]) -> Comparison:
    equal = ahead = 0
    behind: list[str] = []
    differ: list[str] = []
    for movie in sorted(live.keys() | rebuilt.keys()):
        old, new = live.get(movie), rebuilt.get(movie)
        if new is None or (old is not None and new[VERSION] < old[VERSION]):
            behind.append(movie)
        elif old is None or new[VERSION] > old[VERSION]:
            grew = old is None or (
                new[VIEW_COUNT] >= old[VIEW_COUNT] and new[WATCH_SECONDS] >= old[WATCH_SECONDS]
            )
            ahead += grew
            if not grew:
                differ.append(movie)
        elif new == old:
            equal += 1
        else:
            differ.append(movie)
    return Comparison(equal, ahead, behind, differ)
