from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastavro import schemaless_writer
from hypothesis import given
from hypothesis import strategies as st

from ingest.fastenc import ViewTemplate, avro_long, uuid4_strings
from schemas.catalog import Catalog
from schemas.codec import decode, encode
from schemas.subjects import VIEWED

CATALOG = Catalog.bundled()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_avro_long_matches_fastavro(n: int) -> None:
    out = io.BytesIO()
    schemaless_writer(out, "long", n)
    assert avro_long(n) == out.getvalue()


def test_uuid4_strings_are_distinct_version_4_uuids() -> None:
    ids = uuid4_strings(1000)
    assert len(set(ids)) == 1000
    for event_id in ids:
        parsed = uuid.UUID(event_id.decode())
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == event_id.decode()


@pytest.mark.parametrize("version", [1, 2])
@given(
    movie_id=st.text(min_size=1, max_size=20),
    user_id=st.none() | st.text(max_size=10),
    millis=st.integers(min_value=0, max_value=2**41),
    device=st.none() | st.text(max_size=8),
    country=st.none() | st.text(max_size=2),
    watch_seconds=st.none() | st.integers(min_value=0, max_value=2**31 - 1),
)
def test_template_bytes_equal_the_codec(
    version: int,
    movie_id: str,
    user_id: str | None,
    millis: int,
    device: str | None,
    country: str | None,
    watch_seconds: int | None,
) -> None:
    template = ViewTemplate(CATALOG, version)
    event_id = uuid4_strings(1)[0]
    tail = template.tail(device, country, watch_seconds)
    value = template.value(event_id, template.movie_part(movie_id), template.user_part(user_id), millis, tail)
    record = {"event_id": event_id.decode(), "movie_id": movie_id, "user_id": user_id, "occurred_at": millis}
    if version == 2:
        record.update(device=device, country=country, watch_seconds=watch_seconds)
    assert value == encode(CATALOG, VIEWED, record, version)
    assert decode(CATALOG, value).record["occurred_at"] == EPOCH + timedelta(milliseconds=millis)
