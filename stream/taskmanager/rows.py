"""Flink row types at the operator boundaries and their conversion to and from `state` values.

Typed rows (not pickled objects) cross between operators: flat-row coders are cheaper than pickle, and
the JDBC sink needs a `ROW_NAMED` stream anyway.
"""

from __future__ import annotations

from collections.abc import Iterator

from pyflink.common import Row, Types
from pyflink.table import DataTypes

from stream.taskmanager.deadletters import DeadLetter
from stream.taskmanager.state import MovieState, Registered, Snapshot, Views
from stream.taskmanager.trending import Trend, decode_counts, encode_counts

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
    DataTypes.STRING(),
]

# `minutes`: the views' (event-time minute, views) pairs for trending, as
# `stream.taskmanager.trending.encode_counts`.
EVENT_TYPE = Types.ROW_NAMED(
    [
        "movie_id",
        "kind",
        "count",
        "watch_seconds",
        "first_ms",
        "last_ms",
        "title",
        "year",
        "genre",
        "minutes",
    ],
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
        Types.STRING(),
    ],
)
EVENT_COLUMNS = 10

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
    # The trending windows' `Trend` (stream.taskmanager.trending), in the same row so a batch row costs one
    # state read and one write: null while trending is off.
    "trend_hour",
    "trend_day",
    "trend_version",
    "trend_recent",
]
MOVIE_COLUMNS = 10
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
        Types.LONG(),
        Types.LONG(),
        Types.LONG(),
        Types.STRING(),
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
        return Row(item.movie_id, VIEWS, *views, None, None, None, encode_counts(item.minutes), None)
    if isinstance(item, Registered):
        stamps = (item.occurred_ms, item.occurred_ms)
        return Row(item.movie_id, REGISTERED, 1, 0, *stamps, item.title, item.year, item.genre, None, None)
    return Row(None, REJECTED, None, None, None, None, None, None, None, None, item.to_json())


def event_from_row(row: Row) -> Views | Registered:
    movie_id, kind, count, watched, first_ms, last_ms, title, year, genre, minutes = row
    if kind == VIEWS:
        return Views(movie_id, count, watched, first_ms, last_ms, tuple(decode_counts(minutes)))
    return Registered(movie_id, title, year, genre, first_ms)


def state_row(state: MovieState, trend: Trend | None) -> Row:
    s = state
    fields = (s.view_count, s.watch_seconds, s.first_ms, s.last_ms, s.title, s.year, s.genre)
    if trend is None:
        return Row(*fields, s.registered_ms, s.version, s.pending, None, None, None, None)
    trending = (trend.hour, trend.day, trend.version, encode_counts(trend.recent))
    return Row(*fields, s.registered_ms, s.version, s.pending, *trending)


def state_from_row(movie_id: str, row: Row | None) -> MovieState:
    if row is None:
        return MovieState(movie_id)
    return MovieState(movie_id, *row[:MOVIE_COLUMNS])


def trend_from_row(row: Row | None) -> Trend:
    """The `Trend` in a state row (`STATE_TYPE`)."""
    if row is None or row[MOVIE_COLUMNS] is None:
        return Trend()
    hour, day, version, recent = row[MOVIE_COLUMNS:]
    return Trend(hour, day, version, tuple(decode_counts(recent)))


def snapshot_row(snapshot: Snapshot) -> Row:
    return Row(*_snapshot_values(snapshot))


def _snapshot_values(snapshot: Snapshot) -> Iterator[object]:
    return (getattr(snapshot, name) for name in SNAPSHOT_FIELDS)


# With trending, one row a flush carries both the snapshot and the movie's windows, and one statement writes
# both tables (stream.upsert.flush_sql): a second row per flush, to a side output and a sink of its own, would
# double the keyed function's rows, which py-spy showed as a quarter of its Python time at 100,000 movies
# (docs/PERFORMANCE.md, "100,000 movies, Zipf"). A row for a minute boundary,
# which moves only the windows, has a null snapshot `version` (and other snapshot columns).
FLUSH_FIELDS = [*SNAPSHOT_FIELDS, "hour_views", "day_views", "window_end_ms", "trend_version"]
FLUSH_TYPE = Types.ROW_NAMED(
    FLUSH_FIELDS, [*SNAPSHOT_TYPE.get_field_types(), Types.LONG(), Types.LONG(), Types.LONG(), Types.LONG()]
)
_NO_SNAPSHOT = (None,) * (len(SNAPSHOT_FIELDS) - 1)


def flush_row(snapshot: Snapshot, trend: Trend, window_end_ms: int) -> Row:
    return Row(*_snapshot_values(snapshot), trend.hour, trend.day, window_end_ms, trend.version)


def boundary_row(movie_id: str, trend: Trend, window_end_ms: int) -> Row:
    return Row(movie_id, *_NO_SNAPSHOT, trend.hour, trend.day, window_end_ms, trend.version)
