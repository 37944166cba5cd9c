from __future__ import annotations

import json
from io import BytesIO

import pytest
from fastavro import parse_schema, schemaless_writer

from schemas.catalog import Catalog
from schemas.codec import encode
from schemas.subjects import REGISTERED, VIEWED
from schemas.wire import MAGIC, fingerprint
from stream.errors import (
    EmptyMovieIdError,
    InvalidFieldValueError,
    MissingFieldError,
    StreamError,
    UndecodableError,
    UnknownEventTypeError,
    UnknownWriterSchemaError,
)
from stream.taskmanager.batch import decode_batch
from stream.taskmanager.deadletters import DeadLetter
from stream.taskmanager.decoding import decode_event, event_from_record
from stream.taskmanager.state import Registered, Views

EVENT_ID = "6f1c1f7e-7a44-4f53-9b7e-2f3c7a1d8e11"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.bundled()


def viewed(movie_id: str = "m1", **extra: object) -> dict[str, object]:
    return {
        "event_id": EVENT_ID,
        "movie_id": movie_id,
        "user_id": None,
        "occurred_at": 1_700_000_000_123,
        **extra,
    }


def test_a_v1_view_decodes_to_one_view(catalog: Catalog) -> None:
    payload = encode(catalog, VIEWED, viewed(), version=1)
    assert decode_event(catalog, payload) == Views("m1", 1, 0, 1_700_000_000_123, 1_700_000_000_123)


def test_a_v2_view_carries_watch_seconds(catalog: Catalog) -> None:
    payload = encode(catalog, VIEWED, viewed(device="tv", country="NL", watch_seconds=42), version=2)
    assert decode_event(catalog, payload).watch_seconds == 42  # type: ignore[union-attr]


def registration() -> dict[str, object]:
    return {
        "event_id": EVENT_ID,
        "movie_id": "m1",
        "title": "Alien",
        "year": 1979,
        "genre": "sci-fi",
        "occurred_at": 5,
    }


def test_a_registration_decodes(catalog: Catalog) -> None:
    record = registration()
    assert decode_event(catalog, encode(catalog, REGISTERED, record)) == Registered(
        "m1", "Alien", 1979, "sci-fi", 5
    )


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"not avro at all", UndecodableError),
        (MAGIC + b"\x00" * 8 + b"\x02", UnknownWriterSchemaError),
    ],
)
def test_bad_bytes_are_rejected_with_their_reason(catalog: Catalog, payload: bytes, error: type) -> None:
    with pytest.raises(error):
        decode_event(catalog, payload)


def test_a_truncated_body_is_undecodable(catalog: Catalog) -> None:
    payload = encode(catalog, VIEWED, viewed(), version=1)
    with pytest.raises(UndecodableError):
        decode_event(catalog, payload[:-4])


def test_an_empty_movie_id_is_rejected(catalog: Catalog) -> None:
    with pytest.raises(EmptyMovieIdError):
        decode_event(catalog, encode(catalog, VIEWED, viewed(movie_id="  "), version=1))


def test_a_writer_without_a_required_field_is_rejected_as_missing_field() -> None:
    schema = {
        "type": "record",
        "name": "MovieViewed",
        "namespace": "movieviews.events",
        "fields": [{"name": "event_id", "type": "string"}, {"name": "occurred_at", "type": "long"}],
    }
    catalog = Catalog.bundled()
    catalog.add(json.dumps(schema))
    payload = encode_with(catalog, schema, {"event_id": EVENT_ID, "occurred_at": 1})
    with pytest.raises(MissingFieldError):
        decode_event(catalog, payload)


def encode_with(catalog: Catalog, schema: dict[str, object], record: dict[str, object]) -> bytes:
    out = BytesIO(MAGIC + fingerprint(schema))
    out.seek(0, 2)
    schemaless_writer(out, parse_schema(schema), record)
    return out.getvalue()


@pytest.mark.parametrize("field", ["movie_id", "occurred_at"])
def test_a_record_without_a_required_value_is_missing_field(field: str) -> None:
    record = viewed()
    record[field] = None
    with pytest.raises(MissingFieldError, match=field):
        event_from_record(VIEWED, record)


def test_an_unknown_subject_is_rejected() -> None:
    with pytest.raises(UnknownEventTypeError):
        event_from_record("movieviews.events.MovieRated", viewed())


def test_a_dead_letter_round_trips_through_json() -> None:
    letter = DeadLetter.of("undecodable", "bad magic", ("movie-views", 3, 42), b"\xc3\x01\xff")
    parsed = json.loads(letter.to_json())
    assert parsed["source_topic"] == "movie-views" and parsed["partition"] == 3 and parsed["offset"] == 42
    assert DeadLetter.from_json(letter.to_json()).payload == b"\xc3\x01\xff"


def test_a_non_dead_letter_is_a_stream_error() -> None:
    with pytest.raises(StreamError):
        DeadLetter.from_json(b"{not json")


@pytest.mark.parametrize(
    ("subject", "record"),
    [
        (VIEWED, viewed(movie_id="a\x00b")),
        (VIEWED, viewed(movie_id="abc\u202efdp")),
        (VIEWED, viewed(movie_id="cafe\u0301")),
        (VIEWED, viewed(movie_id="m" * 129)),
        (VIEWED, viewed(user_id="u\x1b1")),
        (VIEWED, viewed(occurred_at=-1)),
        (VIEWED, viewed(device="tv", country="NL", watch_seconds=-5)),
        (REGISTERED, {**registration(), "title": "Alien\x00"}),
        (REGISTERED, {**registration(), "genre": "sci\u2028fi"}),
        (REGISTERED, {**registration(), "year": 1_000_000}),
    ],
)
def test_a_record_from_an_outside_producer_that_breaks_the_field_definition_is_an_invalid_field(
    catalog: Catalog, subject: str, record: dict[str, object]
) -> None:
    payload = encode(catalog, subject, record, version=2 if "device" in record else None)
    with pytest.raises(InvalidFieldValueError) as caught:
        decode_event(catalog, payload)
    assert caught.value.reason == "invalid_field" and EVENT_ID in str(caught.value)


def test_a_view_whose_movie_id_has_a_non_bmp_character_is_counted(catalog: Catalog) -> None:
    payload = encode(catalog, VIEWED, viewed(movie_id="🎬" * 128), version=1)
    assert decode_event(catalog, payload).movie_id == "🎬" * 128


def test_a_nul_in_a_movie_id_becomes_a_dead_letter_with_its_source_beside_counted_views(
    catalog: Catalog,
) -> None:
    payloads = [encode(catalog, VIEWED, viewed(movie_id=m), version=1) for m in ("m1", "a\x00b", "m1")]
    out = list(decode_batch(catalog, ("movie-views", 2), [40, 41, 42], payloads))
    letters = [item for item in out if isinstance(item, DeadLetter)]
    assert [(x.reason, x.source_topic, x.partition, x.offset) for x in letters] == [
        ("invalid_field", "movie-views", 2, 41)
    ]
    assert letters[0].payload == payloads[1] and "U+0000" in letters[0].detail
    assert [(v.movie_id, v.count) for v in out if isinstance(v, Views)] == [("m1", 2)]
