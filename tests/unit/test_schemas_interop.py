"""Events single-object encoded by the Python `avro` package (1.12), whose fingerprint of a schema with
logical types differs from the specification's: read as the same writer schema, on the codec and fast path."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import avro.io
import avro.schema
import pytest

from schemas.catalog import AVRO_DIR, Catalog
from schemas.wire import MAGIC, avro_package_fingerprint, fingerprint
from stream.batch import decode_batch
from stream.decoding import decode_event
from stream.fastdecode import FastViews
from stream.state import Registered, Views

# The avro package takes a datetime for timestamp-millis: this one is epoch ms 1_700_000_000_123.
OCCURRED = datetime.fromtimestamp(1_700_000_000.123, UTC)
OCCURRED_MS = 1_700_000_000_123
SCHEMA_FILES = sorted(AVRO_DIR.glob("*/v*.avsc"))


def encode_with_avro_package(path: Path, record: dict[str, object]) -> bytes:
    """What a producer using only the `avro` package writes: C3 01, its own fingerprint, the body."""
    schema = avro.schema.parse(path.read_text())
    body = io.BytesIO()
    avro.io.DatumWriter(schema).write(record, avro.io.BinaryEncoder(body))
    return MAGIC + schema.fingerprint("CRC-64-AVRO") + body.getvalue()


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_alias_is_the_fingerprint_the_avro_package_computes(path: Path) -> None:
    schema = json.loads(path.read_text())
    assert avro_package_fingerprint(schema) == avro.schema.parse(path.read_text()).fingerprint("CRC-64-AVRO")


def test_movie_viewed_v1_has_two_fingerprints_that_name_one_writer() -> None:
    schema = json.loads((AVRO_DIR / "movieviews.events.MovieViewed" / "v1.avsc").read_text())
    assert fingerprint(schema).hex() == "0d1c6c267aeeeccd"  # Java's BinaryMessageEncoder, fastavro
    assert avro_package_fingerprint(schema).hex() == "cf6713daa5349909"


def viewed(version: int, movie_id: str) -> bytes:
    record: dict[str, object] = {
        "event_id": str(uuid.uuid4()),
        "movie_id": movie_id,
        "user_id": None,
        "occurred_at": OCCURRED,
    }
    if version == 2:
        record |= {"device": "tv", "country": None, "watch_seconds": 42}
    path = AVRO_DIR / "movieviews.events.MovieViewed" / f"v{version}.avsc"
    return encode_with_avro_package(path, record)


@pytest.mark.parametrize("version", [1, 2])
def test_views_encoded_by_the_avro_package_are_counted(version: int) -> None:
    catalog = Catalog.bundled()
    payloads = [viewed(version, "m-1"), viewed(version, "m-1"), viewed(version, "m-2")]
    assert FastViews(catalog).read(payloads[0]) is not None  # the hot path, not only the codec fallback
    out = list(decode_batch(catalog, FastViews(catalog), ("movie-views", 0), [0, 1, 2], payloads))
    counts = {v.movie_id: v.count for v in out if isinstance(v, Views)}
    assert counts == {"m-1": 2, "m-2": 1}
    watched = 42 if version == 2 else 0
    assert decode_event(catalog, payloads[2]) == Views("m-2", 1, watched, OCCURRED_MS, OCCURRED_MS)


def test_a_registration_encoded_by_the_avro_package_is_read() -> None:
    record = {
        "event_id": str(uuid.uuid4()),
        "movie_id": "m-1",
        "title": "Heat",
        "year": 1995,
        "genre": "crime",
        "occurred_at": OCCURRED,
    }
    data = encode_with_avro_package(AVRO_DIR / "movieviews.events.MovieRegistered" / "v1.avsc", record)
    assert decode_event(Catalog.bundled(), data) == Registered("m-1", "Heat", 1995, "crime", OCCURRED_MS)
