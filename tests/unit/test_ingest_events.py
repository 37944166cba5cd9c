from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.errors import IngestError, ValidationError
from ingest.events import MovieRegistered, MovieViewed
from schemas.errors import shown
from schemas.fields import WATCH_SECONDS_MAX, YEAR_MAX

EVENT_ID = "6f1c2d3e-4b5a-4c6d-8e7f-001122334455"
NOW = datetime.now(UTC)


def test_new_view_gets_a_uuid4_and_now() -> None:
    view = MovieViewed.new("m-1", user_id="u-1")
    assert uuid.UUID(view.event_id).version == 4
    assert abs(view.occurred_at - datetime.now(UTC)) < timedelta(seconds=5)
    assert view.key == "m-1" and view.min_version == 1


def test_v2_fields_need_v2() -> None:
    assert MovieViewed.new("m-1", device="tv").min_version == 2


def test_occurred_at_is_normalised_to_utc() -> None:
    local = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    view = MovieViewed(EVENT_ID, "m-1", local)
    assert view.occurred_at.utcoffset() == timedelta(0) and view.occurred_at == local


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"movie_id": ""}, "movie_id"),
        ({"movie_id": "   "}, "movie_id"),
        ({"movie_id": "m" * 129}, "movie_id"),
        ({"movie_id": 42}, "movie_id"),
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"event_id": uuid.UUID(EVENT_ID)}, "event_id"),
        ({"occurred_at": NOW + timedelta(days=1)}, "occurred_at"),  # far past the 5-minute allowance
        ({"occurred_at": datetime(2026, 1, 1)}, "occurred_at"),  # naive
        ({"occurred_at": 1_700_000_000_000}, "occurred_at"),
        ({"user_id": 7}, "user_id"),
        ({"device": ""}, "device"),
        ({"watch_seconds": -1}, "watch_seconds"),
        ({"watch_seconds": WATCH_SECONDS_MAX + 1}, "watch_seconds"),
        ({"watch_seconds": True}, "watch_seconds"),
        ({"watch_seconds": 1.5}, "watch_seconds"),
    ],
)
def test_invalid_views_name_the_field_and_value(kwargs: dict, field: str) -> None:
    values = {"event_id": EVENT_ID, "movie_id": "m-1", "occurred_at": NOW, **kwargs}
    with pytest.raises(ValidationError) as caught:
        MovieViewed(**values)
    assert caught.value.field == field
    assert str(caught.value).startswith(field) and shown(values[field]) in str(caught.value)
    assert isinstance(caught.value, IngestError)


def test_a_few_minutes_of_clock_skew_is_accepted() -> None:
    MovieViewed(EVENT_ID, "m-1", NOW + timedelta(minutes=4))
    MovieViewed(EVENT_ID, "m" * 128, NOW)


def test_new_registration() -> None:
    movie = MovieRegistered.new("m-1", "Alien", 1979, "sci-fi")
    assert uuid.UUID(movie.event_id).version == 4
    assert movie.to_record()["title"] == "Alien"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"year": 1869}, "year"),
        ({"year": YEAR_MAX + 1}, "year"),
        ({"year": "1979"}, "year"),
        ({"title": ""}, "title"),
        ({"genre": None}, "genre"),
        ({"movie_id": ""}, "movie_id"),
    ],
)
def test_invalid_registrations(kwargs: dict, field: str) -> None:
    values = {"movie_id": "m-1", "title": "Alien", "year": 1979, "genre": "sci-fi", **kwargs}
    with pytest.raises(ValidationError) as caught:
        MovieRegistered.new(**values)
    assert caught.value.field == field


def test_years_at_the_edges_are_accepted() -> None:
    MovieRegistered.new("m-1", "Roundhay Garden Scene", 1870, "short")
    MovieRegistered.new("m-2", "Announced", YEAR_MAX, "drama")


@pytest.mark.parametrize(
    ("movie_id", "refused"),
    [
        ("a\x00b", "U+0000"),
        ("a\u202eb", "U+202E"),
        ("a\u200bb", "U+200B"),
        ("cafe\u0301", "NFC"),
        ("m" * 129, "at most 128 characters"),
    ],
)
def test_a_view_with_a_hostile_movie_id_is_refused_before_it_is_published(
    movie_id: str, refused: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(refused)) as caught:
        MovieViewed.new(movie_id)
    assert caught.value.field == "movie_id" and caught.value.value == movie_id


def test_a_registration_stores_its_title_and_genre_in_nfc_and_refuses_a_bidi_override() -> None:
    movie = MovieRegistered.new("m-1", "Ame\u0301lie", 2001, "come\u0301die")
    assert (movie.title, movie.genre) == ("Amélie", "comédie")
    with pytest.raises(ValidationError, match="U\\+202E") as caught:
        MovieRegistered.new("m-1", "Alien\u202e", 1979, "sci-fi")
    assert caught.value.field == "title"


def test_a_view_at_the_fixed_bounds_of_occurred_at_is_accepted_and_one_millisecond_before_is_refused() -> (
    None
):
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    MovieViewed(EVENT_ID, "m-1", epoch)
    with pytest.raises(ValidationError, match="occurred_at"):
        MovieViewed(EVENT_ID, "m-1", epoch - timedelta(milliseconds=1))
