"""Flink row types at the operator boundaries and their conversion to and from `stream.state` values.

Typed rows (not pickled objects) cross between operators: flat-row coders are cheaper than pickle, and
the JDBC sink needs a `ROW_NAMED` stream anyway.
"""

from __future__ import annotations

from pyflink.common import Row, Types

from stream.state import MovieState, Registered, Snapshot, Views

VIEWS, REGISTERED = 0, 1

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


def event_row(event: Views | Registered) -> Row:
    if isinstance(event, Views):
        views = (event.count, event.watch_seconds, event.first_ms, event.last_ms)
        return Row(event.movie_id, VIEWS, *views, None, None, None)
    return Row(
        event.movie_id,
        REGISTERED,
        1,
        0,
        event.occurred_ms,
        event.occurred_ms,
        event.title,
        event.year,
        event.genre,
    )


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
