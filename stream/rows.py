"""Flink row types at the operator boundaries and their conversion to and from `stream.state` values.

Typed rows (not pickled objects) cross between operators: flat-row coders are cheaper than pickle, and
the JDBC sink needs a `ROW_NAMED` stream anyway.
"""

from __future__ import annotations

from pyflink.common import Row, Types
from pyflink.table import DataTypes

from stream.state import MovieState, Registered, Snapshot, Views

# `kind` of a decoded or routed row; REJECTED rows carry only the dead letter (JSON).
VIEWS, REGISTERED, REJECTED = 0, 1, -1

# What the decode UDF returns for one Kafka record; the field order is `decoded_row`'s. BIGINT, not INT, for
# kind and year: thread mode's converter of a nested INT throws on null (PythonTypeUtils.IntDataConverter).
DECODED_TYPE = DataTypes.ROW(
    [
        DataTypes.FIELD("kind", DataTypes.BIGINT()),
        DataTypes.FIELD("movie_id", DataTypes.STRING()),
        DataTypes.FIELD("occurred_ms", DataTypes.BIGINT()),
        DataTypes.FIELD("watch_seconds", DataTypes.BIGINT()),
        DataTypes.FIELD("title", DataTypes.STRING()),
        DataTypes.FIELD("year", DataTypes.BIGINT()),
        DataTypes.FIELD("genre", DataTypes.STRING()),
        DataTypes.FIELD("letter", DataTypes.STRING()),
    ]
)

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


def decoded_row(event: Views | Registered) -> Row:
    if isinstance(event, Views):
        return Row(VIEWS, event.movie_id, event.first_ms, event.watch_seconds, None, None, None, None)
    return Row(REGISTERED, event.movie_id, event.occurred_ms, 0, event.title, event.year, event.genre, None)


def rejected_row(letter: str) -> Row:
    return Row(REJECTED, None, None, None, None, None, None, letter)


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
