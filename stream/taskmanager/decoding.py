"""From Kafka bytes to a state event; what cannot be counted raises `RejectedEventError`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastavro.read import SchemaResolutionError

from schemas.catalog import Catalog
from schemas.codec import decode
from schemas.errors import DecodeError, InvalidFieldError, UnknownSchemaError
from schemas.fields import check_registered, check_viewed
from schemas.subjects import REGISTERED, VIEWED
from stream.errors import (
    EmptyMovieIdError,
    InvalidFieldValueError,
    MissingFieldError,
    UndecodableError,
    UnknownEventTypeError,
    UnknownWriterSchemaError,
)
from stream.taskmanager.state import Registered, Views


def decode_event(catalog: Catalog, payload: bytes) -> Views | Registered:
    try:
        # The fast path: timestamps stay epoch millis, which is what the state and the sink use.
        decoded = decode(catalog, payload, logical=False)
    except UnknownSchemaError as exc:
        raise UnknownWriterSchemaError(str(exc)) from exc
    except DecodeError as exc:
        if isinstance(exc.__cause__, SchemaResolutionError):
            # The writer schema lacks a field the reader requires (no default): the fields are missing.
            raise MissingFieldError(str(exc)) from exc
        raise UndecodableError(str(exc)) from exc
    return event_from_record(decoded.subject, decoded.record)


def event_from_record(subject: str, record: Mapping[str, Any]) -> Views | Registered:
    if subject == VIEWED:
        occurred = int(_required(subject, record, "occurred_at"))
        watched = record.get("watch_seconds") or 0
        movie_id = _movie_id(subject, record)
        _check(subject, record, check_viewed)
        return Views(movie_id, 1, int(watched), occurred, occurred)
    if subject == REGISTERED:
        registered = Registered(
            movie_id=_movie_id(subject, record),
            title=str(_required(subject, record, "title")),
            year=int(_required(subject, record, "year")),
            genre=str(_required(subject, record, "genre")),
            occurred_ms=int(_required(subject, record, "occurred_at")),
        )
        _check(subject, record, check_registered)
        return registered
    raise UnknownEventTypeError(f"no handler for subject {subject!r}")


def _check(subject: str, record: Mapping[str, Any], check: Callable[[Mapping[str, Any]], None]) -> None:
    """The one definition of a valid field (`schemas.fields`), which the API and the producers enforce too:
    what an outside producer wrote past it is dead-lettered, never counted or written to Postgres."""
    try:
        check(record)
    except InvalidFieldError as exc:
        raise InvalidFieldValueError(f"{subject} {record.get('event_id')!r}: {exc}") from exc


def _required(subject: str, record: Mapping[str, Any], name: str) -> Any:
    value = record.get(name)
    if value is None:
        raise MissingFieldError(f"{subject} without {name!r}: {dict(record)!r:.300}")
    return value


def _movie_id(subject: str, record: Mapping[str, Any]) -> str:
    movie_id = str(_required(subject, record, "movie_id"))
    if not movie_id.strip():
        raise EmptyMovieIdError(f"{subject} {record.get('event_id')!r} has movie_id {movie_id!r}")
    return movie_id
