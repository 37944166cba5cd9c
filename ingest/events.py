"""The events this system publishes, validated on construction so a bad one never reaches Kafka."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from ingest.errors import ValidationError
from schemas.subjects import REGISTERED, VIEWED

MOVIE_ID_MAX = 128
# Clocks drift; five minutes of skew is tolerated, more is a client bug that would distort recency.
FUTURE_TOLERANCE = timedelta(minutes=5)
FIRST_FILM_YEAR = 1870
YEARS_AHEAD = 5  # announced films are registered before release
TEXT_MAX = 256
AVRO_INT_MAX = 2**31 - 1


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
        _check_movie_id(self.movie_id)
        object.__setattr__(self, "occurred_at", _check_occurred_at(self.occurred_at))
        for name in ("user_id", "device", "country"):
            _check_text(name, getattr(self, name), optional=True)
        _check_int("watch_seconds", self.watch_seconds, 0, AVRO_INT_MAX, optional=True)

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
        _check_movie_id(self.movie_id)
        _check_text("title", self.title)
        _check_text("genre", self.genre)
        _check_int("year", self.year, FIRST_FILM_YEAR, now_utc().year + YEARS_AHEAD)
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


def _check_movie_id(value: object) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > MOVIE_ID_MAX:
        raise ValidationError(
            "movie_id", value, f"must be a non-blank string of at most {MOVIE_ID_MAX} characters"
        )


def _check_text(name: str, value: object, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip() or len(value) > TEXT_MAX:
        raise ValidationError(name, value, f"must be a non-blank string of at most {TEXT_MAX} characters")


def _check_int(name: str, value: object, low: int, high: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    # bool is an int subclass; True as a year is a caller bug, not 1.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationError(name, value, f"must be an integer in {low}..{high}")


def _check_occurred_at(value: object) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError("occurred_at", value, "must be a timezone-aware datetime")
    if value > now_utc() + FUTURE_TOLERANCE:
        raise ValidationError("occurred_at", value, f"must not be more than {FUTURE_TOLERANCE} in the future")
    return value.astimezone(UTC)
