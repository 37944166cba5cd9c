from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import Catalog
from schemas.codec import decode, encode
from schemas.errors import DecodeError
from schemas.subjects import REGISTERED, VIEWED
from schemas.wire import HEADER_SIZE, MAGIC

CATALOG = Catalog.bundled()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
V2_FIELDS = ("device", "country", "watch_seconds")

text = st.text(max_size=40)
optional_text = st.none() | text
millis = st.integers(min_value=0, max_value=253402300799999)  # up to year 9999: a datetime can hold it
int32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)

viewed_v1 = st.fixed_dictionaries(
    {"event_id": st.uuids().map(str), "movie_id": text, "user_id": optional_text, "occurred_at": millis}
)
viewed_v2 = st.fixed_dictionaries(
    {
        "event_id": st.uuids().map(str),
        "movie_id": text,
        "user_id": optional_text,
        "occurred_at": millis,
        "device": optional_text,
        "country": optional_text,
        "watch_seconds": st.none() | int32,
    }
)
registered = st.fixed_dictionaries(
    {
        "event_id": st.uuids().map(str),
        "movie_id": text,
        "title": text,
        "year": int32,
        "genre": text,
        "occurred_at": millis,
    }
)
any_message = st.one_of(
    viewed_v1.map(lambda r: encode(CATALOG, VIEWED, r, 1)),
    viewed_v2.map(lambda r: encode(CATALOG, VIEWED, r, 2)),
    registered.map(lambda r: encode(CATALOG, REGISTERED, r)),
)


@given(viewed_v1)
def test_v1_events_round_trip_to_the_v2_reader(record: dict) -> None:
    decoded = decode(CATALOG, encode(CATALOG, VIEWED, record, 1), logical=False)
    assert decoded.record == {**record, **dict.fromkeys(V2_FIELDS)}


@given(viewed_v2)
def test_v2_events_round_trip(record: dict) -> None:
    assert decode(CATALOG, encode(CATALOG, VIEWED, record, 2), logical=False).record == record


@given(registered)
def test_registrations_round_trip(record: dict) -> None:
    assert decode(CATALOG, encode(CATALOG, REGISTERED, record), logical=False).record == record


@given(viewed_v2)
def test_logical_decoding_gives_utc_datetimes(record: dict) -> None:
    occurred_at = decode(CATALOG, encode(CATALOG, VIEWED, record)).record["occurred_at"]
    assert occurred_at.tzinfo is not None
    assert occurred_at == EPOCH + timedelta(milliseconds=record["occurred_at"])


@given(st.binary(max_size=200))
def test_random_bytes_never_decode(data: bytes) -> None:
    try:
        decode(CATALOG, data)
    except DecodeError:
        return
    raise AssertionError(f"decoded random bytes {data!r}")  # pragma: no cover


@given(any_message, st.data())
def test_truncated_messages_never_decode(data: bytes, draw: st.DataObject) -> None:
    cut = draw.draw(st.integers(min_value=0, max_value=len(data) - 1))
    for logical in (True, False):
        try:
            decode(CATALOG, data[:cut], logical=logical)
        except DecodeError:
            continue
        raise AssertionError(f"decoded {data[:cut]!r}, a truncation of {data!r}")  # pragma: no cover


FINGERPRINTS = sorted(e.fingerprint for s in CATALOG.subjects for e in CATALOG.versions(s).values())


@settings(max_examples=300)
@given(st.sampled_from(FINGERPRINTS), st.binary(max_size=120))
def test_random_body_under_a_known_fingerprint_is_rejected_or_is_a_real_encoding(
    fp: bytes, body: bytes
) -> None:
    """A body either fails loudly or is exactly the encoding of what it decoded to: never a silent guess."""
    catalog = _reading_with_its_writer(fp)
    try:
        decoded = decode(catalog, MAGIC + fp + body, logical=False)
    except DecodeError:
        return
    assert encode(catalog, decoded.subject, decoded.record)[HEADER_SIZE:] == body


@cache
def _reading_with_its_writer(fp: bytes) -> Catalog:
    """Reader = writer, so decoding then re-encoding must give the same bytes back."""
    catalog = Catalog()
    catalog.add(CATALOG.entry(fp).schema, version=1)
    return catalog
