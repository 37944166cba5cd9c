"""Hand-made events for the tests: MovieViewed and MovieRegistered records with fresh event ids, and views
Avro single-object encoded, at a fixed instant unless told another."""

from __future__ import annotations

import uuid

from schemas.catalog import Catalog
from schemas.codec import encode
from schemas.subjects import VIEWED

EPOCH_MS = 1_767_225_600_000  # a fixed instant, so hand-made events are reproducible


def view_record(movie_id: str, occurred_ms: int = EPOCH_MS) -> dict[str, object]:
    """A MovieViewed v1 record."""
    return {"event_id": str(uuid.uuid4()), "movie_id": movie_id, "user_id": None, "occurred_at": occurred_ms}


def registration_record(
    movie_id: str, title: str = "Alien", year: int = 1979, genre: str = "sci-fi", occurred_ms: int = EPOCH_MS
) -> dict[str, object]:
    """A MovieRegistered v1 record."""
    return {
        "event_id": str(uuid.uuid4()),
        "movie_id": movie_id,
        "title": title,
        "year": year,
        "genre": genre,
        "occurred_at": occurred_ms,
    }


def view_payload(catalog: Catalog, movie_id: str, occurred_ms: int) -> bytes:
    return encode(catalog, VIEWED, view_record(movie_id, occurred_ms), version=1)
