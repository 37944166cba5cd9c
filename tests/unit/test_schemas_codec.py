from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from schemas.catalog import Catalog
from schemas.codec import decode, encode
from schemas.errors import DecodeError, EncodeError, SchemaError, UnknownSchemaError
from schemas.subjects import REGISTERED, VIEWED
from schemas.wire import HEADER_SIZE, MAGIC

AT = datetime(2026, 11, 27, 12, 30, 45, 123000, tzinfo=UTC)
EVENT_ID = "6f1c2d3e-4b5a-4c6d-8e7f-001122334455"

V1 = {"event_id": EVENT_ID, "movie_id": "m-0042", "user_id": "u-7", "occurred_at": AT}
V2 = {**V1, "device": "tv", "country": "NL", "watch_seconds": 1800}
V2_DEFAULTS = {"device": None, "country": None, "watch_seconds": None}


def catalog_up_to(version: int) -> Catalog:
    """A process whose newest known MovieViewed is `version` (an older deployment)."""
    full = Catalog.bundled()
    catalog = Catalog()
    for v, entry in full.versions(VIEWED).items():
        if v <= version:
            catalog.add(entry.schema, version=v)
    return catalog


@pytest.mark.parametrize(
    ("writer", "reader", "record", "expected"),
    [
        (1, 1, V1, V1),
        (1, 2, V1, {**V1, **V2_DEFAULTS}),  # reader first: defaults filled
        (2, 2, V2, V2),
        (2, 1, V2, V1),  # producer first, schema known: the old reader keeps its fields
    ],
)
def test_round_trip_every_writer_reader_pair(writer: int, reader: int, record: dict, expected: dict) -> None:
    data = encode(Catalog.bundled(), VIEWED, record, version=writer)
    catalog = catalog_up_to(reader)
    if writer > reader:
        catalog.add(Catalog.bundled().version(VIEWED, writer).schema)  # learnt at run time
    decoded = decode(catalog, data)
    assert decoded.subject == VIEWED
    assert decoded.record == {**expected, "event_id": uuid.UUID(EVENT_ID)}
    assert decoded.fingerprint == Catalog.bundled().version(VIEWED, writer).fingerprint


def test_movie_registered_round_trip() -> None:
    record = {
        "event_id": EVENT_ID,
        "movie_id": "m-1",
        "title": "Alien",
        "year": 1979,
        "genre": "sci-fi",
        "occurred_at": AT,
    }
    catalog = Catalog.bundled()
    decoded = decode(catalog, encode(catalog, REGISTERED, record))
    assert decoded.subject == REGISTERED
    assert decoded.record == {**record, "event_id": uuid.UUID(EVENT_ID)}


def test_fast_path_returns_epoch_millis_and_uuid_strings() -> None:
    catalog = Catalog.bundled()
    for version in (1, 2):
        record = decode(catalog, encode(catalog, VIEWED, V1, version=version), logical=False).record
        assert record["occurred_at"] == int(AT.timestamp() * 1000)
        assert record["event_id"] == EVENT_ID
        assert record["device"] is None


def test_logical_path_returns_utc_aware_datetime() -> None:
    catalog = Catalog.bundled()
    occurred_at = decode(catalog, encode(catalog, VIEWED, V1)).record["occurred_at"]
    assert occurred_at == AT
    assert occurred_at.utcoffset() is not None and occurred_at.utcoffset().total_seconds() == 0


def test_wire_format_is_single_object_encoding() -> None:
    catalog = Catalog.bundled()
    data = encode(catalog, VIEWED, V1, version=1)
    assert data[:2] == MAGIC == b"\xc3\x01"
    assert data[2:HEADER_SIZE] == catalog.version(VIEWED, 1).fingerprint
    # The body is plain Avro binary: the uuid string's zigzag length (36 -> 0x48) comes first.
    assert data[HEADER_SIZE] == 0x48 and data[HEADER_SIZE + 1 : HEADER_SIZE + 37] == EVENT_ID.encode()


def test_latest_version_is_the_default_writer() -> None:
    catalog = Catalog.bundled()
    assert encode(catalog, VIEWED, V1)[2:HEADER_SIZE] == catalog.version(VIEWED, 2).fingerprint


def test_unknown_fingerprint_raises_unknown_schema_error_with_the_fingerprint() -> None:
    data = MAGIC + bytes(range(8)) + b"\x00"
    with pytest.raises(UnknownSchemaError) as caught:
        decode(Catalog.bundled(), data)
    assert caught.value.fingerprint == bytes(range(8))
    assert isinstance(caught.value, DecodeError)


def test_resolver_finds_a_schema_this_process_has_never_seen() -> None:
    bundled = Catalog.bundled()
    v2 = bundled.version(VIEWED, 2)
    asked: list[bytes] = []

    def resolver(fingerprint: bytes) -> str | None:
        asked.append(fingerprint)
        return v2.json if fingerprint == v2.fingerprint else None

    old_job = catalog_up_to(1)
    old_job_with_shared_catalog = Catalog(resolver=resolver)
    old_job_with_shared_catalog.add(old_job.version(VIEWED, 1).schema, version=1)
    data = encode(bundled, VIEWED, V2, version=2)

    with pytest.raises(UnknownSchemaError):
        decode(old_job, data)
    decoded = decode(old_job_with_shared_catalog, data)
    decode(old_job_with_shared_catalog, data)
    assert decoded.record == {**V1, "event_id": uuid.UUID(EVENT_ID)}
    assert asked == [v2.fingerprint]  # learnt once, then cached


def test_resolver_misses_are_not_retried_within_a_second() -> None:
    asked: list[bytes] = []
    catalog = Catalog(resolver=lambda fp: asked.append(fp))  # type: ignore[func-returns-value]
    data = MAGIC + bytes(8) + b"\x00"
    for _ in range(3):
        with pytest.raises(UnknownSchemaError):
            decode(catalog, data)
    assert asked == [bytes(8)]


def test_an_unreachable_shared_catalog_is_an_unknown_schema_not_a_crash() -> None:
    def resolver(fingerprint: bytes) -> str | None:
        raise SchemaError("broker down")

    with pytest.raises(UnknownSchemaError):
        decode(Catalog(resolver=resolver), MAGIC + bytes(8) + b"\x00")


@pytest.mark.parametrize(
    "record",
    [
        {**V1, "movie_id": 42},
        {**V1, "occurred_at": "yesterday"},
        {**V1, "user_id": 7},
        {k: v for k, v in V1.items() if k != "movie_id"},
    ],
)
def test_encode_rejects_wrong_types_and_missing_fields(record: dict) -> None:
    with pytest.raises(EncodeError):
        encode(Catalog.bundled(), VIEWED, record)


def test_encode_rejects_fields_the_version_does_not_have() -> None:
    with pytest.raises(EncodeError, match="device"):
        encode(Catalog.bundled(), VIEWED, V2, version=1)


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc3", b"\xc3\x01\x00", b"\x00\x01" + bytes(9), b'{"movie_id": "m-1"}'],
)
def test_short_or_foreign_bytes_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(Catalog.bundled(), data)


def test_trailing_bytes_raise_decode_error() -> None:
    catalog = Catalog.bundled()
    with pytest.raises(DecodeError, match="trailing"):
        decode(catalog, encode(catalog, VIEWED, V1) + b"\x00")
