"""Flink row types at the operator boundaries and their conversion to and from `state` values.

Typed rows (not pickled objects) cross between operators: flat-row coders are cheaper than pickle, and
the JDBC sink needs a `ROW_NAMED` stream anyway.
"""

from __future__ import annotations

from pyflink.common import Row, Types
from pyflink.table import DataTypes

from stream.taskmanager.deadletters import DeadLetter
from stream.taskmanager.state import MovieState, Registered, Snapshot, Views

# `kind` of an event row; a REJECTED row carries only the dead letter (JSON), in its last column.
VIEWS, REGISTERED, REJECTED = 0, 1, -1

# What the decode Table function yields: EVENT_TYPE's columns plus the dead letter. BIGINT, not INT, for kind
# and year: thread mode's converter of an INT result throws on null (PythonTypeUtils.IntDataConverter).
BATCH_OUTPUT_TYPES = [
    DataTypes.STRING(),
    DataTypes.BIGINT(),
    DataTypes.BIGINT(),
    DataTypes.BIGINT(),
    DataTypes.BIGINT(),
    DataTypes.BIGINT(),
    DataTypes.STRING(),
    DataTypes.BIGINT(),
    DataTypes.STRING(),
    DataTypes.STRING(),
]

EVENT_TYPE = Types.ROW_NAMED(
    ["movie_id", "kind", "count", "watch_seconds", "first_ms", "last_ms", "title", "year", "genre"],
    [
        Types.STRING(),
        Types.INT(),
        Types.LONG(),
        Types.LONG(),
        Types.LONG(),
        Types.LONG(),
        Types.STRING(),
        Types.INT(),
        Types.STRING(),
    ],
)

STATE_FIELDS = [
    "view_count",
    "watch_seconds",
    "first_ms",
    "last_ms",
    "title",
    "year",
    "genre",
    "registered_ms",
    "version",
    "pending",
]
STATE_TYPE = Types.ROW_NAMED(
    STATE_FIELDS,
    [
        Types.LONG(),
        Types.LONG(),
        Types.LONG(),
        Types.LONG(),
        Types.STRING(),
        Types.INT(),
        Types.STRING(),
        Types.LONG(),
        Types.LONG(),
        Types.BOOLEAN(),
    ],
)

SNAPSHOT_FIELDS = [
    "movie_id",
    "title",
    "year",
    "genre",
    "view_count",
    "watch_seconds",
    "first_ms",
    "last_ms",
    "version",
]
SNAPSHOT_TYPE = Types.ROW_NAMED(
    SNAPSHOT_FIELDS,
    [
        Types.STRING(),
        Types.STRING(),
        Types.INT(),
        Types.STRING(),
        Types.LONG(),
        Types.LONG(),
        Types.LONG(),
        Types.LONG(),
        Types.LONG(),
    ],
)


def batch_row(item: Views | Registered | DeadLetter) -> Row:
    if isinstance(item, Views):
        views = (item.count, item.watch_seconds, item.first_ms, item.last_ms)
        return Row(item.movie_id, VIEWS, *views, None, None, None, None)
    if isinstance(item, Registered):
        stamps = (item.occurred_ms, item.occurred_ms)
        return Row(item.movie_id, REGISTERED, 1, 0, *stamps, item.title, item.year, item.genre, None)
    return Row(None, REJECTED, None, None, None, None, None, None, None, item.to_json())


def event_from_row(row: Row) -> Views | Registered:
    movie_id, kind, count, watched, first_ms, last_ms, title, year, genre = row
    if kind == VIEWS:
        return Views(movie_id, count, watched, first_ms, last_ms)
    return Registered(movie_id, title, year, genre, first_ms)


def state_row(state: MovieState) -> Row:
    s = state
    fields = (s.view_count, s.watch_seconds, s.first_ms, s.last_ms, s.title, s.year, s.genre)
    return Row(*fields, s.registered_ms, s.version, s.pending)


def state_from_row(movie_id: str, row: Row | None) -> MovieState:
    if row is None:
        return MovieState(movie_id)
    return MovieState(movie_id, *row)


def snapshot_row(snapshot: Snapshot) -> Row:
    return Row(*(getattr(snapshot, name) for name in SNAPSHOT_FIELDS))
