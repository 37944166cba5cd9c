"""Pre-encoded MovieViewed values for the load generator: the fixed parts are encoded once per run.

fastavro per event tops out near 53k events/s with the rest of the loop; here only the event id, the movie,
the user and the timestamp change, as byte slices glued together. The result is the same single-object Avro
that `schemas.codec.encode` writes; `ViewTemplate` checks that against the codec when it is built.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from schemas.catalog import Catalog
from schemas.codec import encode
from schemas.errors import EncodeError
from schemas.subjects import VIEWED
from schemas.wire import MAGIC

# The field order the template glues together; any other layout needs a new template, not a silent mismatch.
V1_FIELDS = ("event_id", "movie_id", "user_id", "occurred_at")
V2_FIELDS = (*V1_FIELDS, "device", "country", "watch_seconds")
_UUID_LENGTH = b"\x48"  # zigzag varint of 36, the length of a canonical uuid string
_NULL = b"\x00"  # union branch 0: null
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def avro_long(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def avro_string(value: str) -> bytes:
    data = value.encode()
    return avro_long(len(data)) + data


def avro_optional(value: bytes | None) -> bytes:
    """A ["null", T] union: branch index then the encoded value."""
    return _NULL if value is None else b"\x02" + value


def uuid4_strings(count: int) -> list[bytes]:
    """Random version-4 uuids as canonical strings, from one urandom call (5x faster than uuid.uuid4)."""
    blob = os.urandom(16 * count).hex()
    out = []
    for i in range(0, 32 * count, 32):
        h = blob[i : i + 32]
        out.append(f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}".encode())
    return out


class ViewTemplate:
    """value = prefix + uuid + movie part + user part + timestamp + tail."""

    def __init__(self, catalog: Catalog, version: int) -> None:
        entry = catalog.version(VIEWED, version)
        fields = tuple(f["name"] for f in entry.schema["fields"])
        if fields not in (V1_FIELDS, V2_FIELDS):
            raise EncodeError(f"no pre-encoded template for {VIEWED} v{version} fields {fields}")
        self.version = version
        self.fingerprint = entry.fingerprint
        self.prefix = MAGIC + entry.fingerprint + _UUID_LENGTH
        self.has_v2_fields = fields == V2_FIELDS
        self._self_check(catalog)

    def movie_part(self, movie_id: str) -> bytes:
        return avro_string(movie_id)

    def user_part(self, user_id: str | None) -> bytes:
        return avro_optional(None if user_id is None else avro_string(user_id))

    def tail(self, device: str | None, country: str | None, watch_seconds: int | None) -> bytes:
        if not self.has_v2_fields:
            return b""
        return (
            avro_optional(None if device is None else avro_string(device))
            + avro_optional(None if country is None else avro_string(country))
            + avro_optional(None if watch_seconds is None else avro_long(watch_seconds))
        )

    def value(
        self, event_id: bytes, movie_part: bytes, user_part: bytes, epoch_ms: int, tail: bytes
    ) -> bytes:
        return self.prefix + event_id + movie_part + user_part + avro_long(epoch_ms) + tail

    def _self_check(self, catalog: Catalog) -> None:
        event_id = uuid4_strings(1)[0]
        at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
        record = {"event_id": event_id.decode(), "movie_id": "m-0001", "user_id": "u-1", "occurred_at": at}
        device, country, seconds = ("tv", "NL", 4321) if self.has_v2_fields else (None, None, None)
        if self.has_v2_fields:
            record.update(device=device, country=country, watch_seconds=seconds)
        expected = encode(catalog, VIEWED, record, self.version)
        got = self.value(
            event_id,
            self.movie_part("m-0001"),
            self.user_part("u-1"),
            int(at.timestamp() * 1000),
            self.tail(device, country, seconds),
        )
        if got != expected:
            raise EncodeError(f"pre-encoded {VIEWED} v{self.version} differs from the codec: {got!r}")
