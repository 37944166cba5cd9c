"""Hand-made events for the tests: Avro single-object encoded MovieViewed at a fixed instant."""

from __future__ import annotations

import uuid

from schemas.catalog import Catalog
from schemas.codec import encode
from schemas.subjects import VIEWED

EPOCH_MS = 1_767_225_600_000  # a fixed instant, so hand-made events are reproducible


def view_payload(catalog: Catalog, movie_id: str, occurred_ms: int) -> bytes:
    record = {
        "event_id": str(uuid.uuid4()),
        "movie_id": movie_id,
        "user_id": None,
        "occurred_at": occurred_ms,
    }
    return encode(catalog, VIEWED, record, version=1)
