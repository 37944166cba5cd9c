"""The hand-written MovieViewed reader agrees with the codec on all it accepts, and declines the rest."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from schemas.catalog import Catalog
from schemas.codec import encode
from schemas.subjects import VIEWED
from stream.errors import RejectedEventError
from stream.taskmanager.decoding import decode_event
from stream.taskmanager.fastdecode import FastViews
from stream.taskmanager.state import Views

CATALOG = Catalog.bundled()
FAST = FastViews(CATALOG)

text = st.text(max_size=30)
optional_text = st.none() | text
base = {
    "event_id": st.uuids().map(str),
    "movie_id": text,
    "user_id": optional_text,
    "occurred_at": st.integers(min_value=-(2**63), max_value=2**63 - 1),
}
tail = {
    "device": optional_text,
    "country": optional_text,
    "watch_seconds": st.none() | st.integers(min_value=-(2**31), max_value=2**31 - 1),
}
events = st.tuples(st.just(1), st.fixed_dictionaries(base)) | st.tuples(
    st.just(2), st.fixed_dictionaries({**base, **tail})
)


def slow(payload: bytes) -> Views | None:
    try:
        event = decode_event(CATALOG, payload)
    except RejectedEventError:
        return None
    assert isinstance(event, Views)
    return event


def agrees(payload: bytes) -> bool:
    fast = FAST.read(payload)
    if fast is None:
        return True
    movie_id, occurred, watched = fast
    return slow(payload) == Views(movie_id, 1, watched, occurred, occurred)


@given(events)
def test_every_well_formed_view_with_a_movie_id_takes_the_fast_path_with_the_same_result(
    event: tuple[int, dict[str, object]],
) -> None:
    version, record = event
    payload = encode(CATALOG, VIEWED, record, version=version)
    if str(record["movie_id"]).strip():
        assert FAST.read(payload) is not None
    else:
        assert FAST.read(payload) is None  # the codec path names the rejection
    assert agrees(payload)


@given(events, st.data())
def test_truncated_or_extended_bytes_are_declined_or_read_as_the_codec_reads_them(
    event: tuple[int, dict[str, object]], data: st.DataObject
) -> None:
    version, record = event
    payload = encode(CATALOG, VIEWED, record, version=version)
    cut = data.draw(st.integers(min_value=0, max_value=len(payload)))
    assert agrees(payload[:cut])
    assert agrees(payload + data.draw(st.binary(min_size=1, max_size=4)))


@given(st.binary(max_size=60))
def test_random_bodies_behind_a_known_header_never_disagree(body: bytes) -> None:
    header = encode(CATALOG, VIEWED, {"event_id": "x", "movie_id": "m", "occurred_at": 0}, version=2)[:10]
    assert agrees(header + body)


def test_an_unknown_writer_is_declined() -> None:
    assert FAST.read(b"\xc3\x01" + bytes(8) + b"\x00") is None
