"""The events this system publishes, validated on construction so a bad one never reaches Kafka."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from ingest.errors import ValidationError
from schemas import fields
from schemas.errors import InvalidFieldError
from schemas.subjects import REGISTERED, VIEWED

# Clocks drift; five minutes of skew is tolerated, more is a client bug that would distort recency. The one
# check of a producer's own: it depends on the clock at publish time, which a replaying job cannot know.
FUTURE_TOLERANCE = timedelta(minutes=5)


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class MovieViewed:
    SUBJECT: ClassVar[str] = VIEWED

    event_id: str
    movie_id: str
    occurred_at: datetime
    user_id: str | None = None
    device: str | None = None
    country: str | None = None
    watch_seconds: int | None = None

    def __post_init__(self) -> None:
        _check_event_id(self.event_id)
        with _field_errors():
            fields.check_id("movie_id", self.movie_id)
            object.__setattr__(self, "occurred_at", _check_occurred_at(self.occurred_at))
            for name in ("user_id", "device", "country"):
                if (value := getattr(self, name)) is not None:
                    object.__setattr__(self, name, fields.normalise_text(name, value))
            if self.watch_seconds is not None:
                fields.check_watch_seconds("watch_seconds", self.watch_seconds)

    @classmethod
    def new(
        cls,
        movie_id: str,
        user_id: str | None = None,
        *,
        device: str | None = None,
        country: str | None = None,
        watch_seconds: int | None = None,
        occurred_at: datetime | None = None,
        event_id: str | None = None,
    ) -> MovieViewed:
        """`event_id`: a caller's own id (a retried request), in canonical form; a new UUID when None."""
        the_id = str(uuid.uuid4()) if event_id is None else canonical_event_id(event_id)
        return cls(the_id, movie_id, occurred_at or now_utc(), user_id, device, country, watch_seconds)

    @property
    def key(self) -> str:
        return self.movie_id

    def to_record(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "movie_id": self.movie_id,
            "user_id": self.user_id,
            "occurred_at": self.occurred_at,
            "device": self.device,
            "country": self.country,
            "watch_seconds": self.watch_seconds,
        }

    @property
    def min_version(self) -> int:
        """The oldest schema version that carries every field set on this event (v1 drops the v2 fields)."""
        has_v2_fields = (self.device, self.country, self.watch_seconds) != (None, None, None)
        return 2 if has_v2_fields else 1


@dataclass(frozen=True, slots=True)
class MovieRegistered:
    SUBJECT: ClassVar[str] = REGISTERED

    event_id: str
    movie_id: str
    title: str
    year: int
    genre: str
    occurred_at: datetime

    def __post_init__(self) -> None:
        _check_event_id(self.event_id)
        with _field_errors():
            fields.check_id("movie_id", self.movie_id)
            object.__setattr__(self, "title", fields.normalise_text("title", self.title))
            object.__setattr__(self, "genre", fields.normalise_text("genre", self.genre))
            fields.check_year("year", self.year)
            object.__setattr__(self, "occurred_at", _check_occurred_at(self.occurred_at))

    @classmethod
    def new(
        cls, movie_id: str, title: str, year: int, genre: str, occurred_at: datetime | None = None
    ) -> MovieRegistered:
        return cls(str(uuid.uuid4()), movie_id, title, year, genre, occurred_at or now_utc())

    @property
    def key(self) -> str:
        return self.movie_id

    def to_record(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "movie_id": self.movie_id,
            "title": self.title,
            "year": self.year,
            "genre": self.genre,
            "occurred_at": self.occurred_at,
        }

    @property
    def min_version(self) -> int:
        return 1


Event = MovieViewed | MovieRegistered


def canonical_event_id(value: object) -> str:
    """Lower-case, hyphenated: the job deduplicates by the encoded id, so one event has one spelling."""
    _check_event_id(value)
    return str(uuid.UUID(str(value)))


def _check_event_id(value: object) -> None:
    if not isinstance(value, str) or not _is_uuid(value):
        raise ValidationError("event_id", value, "must be a UUID string")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@contextmanager
def _field_errors() -> Iterator[None]:
    try:
        yield
    except InvalidFieldError as exc:
        raise ValidationError.of(exc) from exc


def _check_occurred_at(value: object) -> datetime:
    occurred = fields.check_occurred_at("occurred_at", value)
    if occurred > now_utc() + FUTURE_TOLERANCE:
        raise ValidationError("occurred_at", value, f"must not be more than {FUTURE_TOLERANCE} in the future")
    return occurred
