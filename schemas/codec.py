"""Encode records as single-object Avro; decode them with the writer schema resolved to this process's reader.

Decoding is on the stream job's per-record path, so everything that depends only on the writer fingerprint is
worked out once and kept in the catalog's `decode_cache`: the parsed schemas, and whether resolution can be
a plain projection (drop fields the reader lacks, fill the reader's defaults) instead of fastavro's generic
schema resolution, which halves throughput.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from io import BytesIO
from struct import error as StructError  # noqa: N812
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from schemas.catalog import Catalog, SchemaVersion
from schemas.errors import DecodeError, EncodeError, SchemaError
from schemas.wire import HEADER_SIZE, MAGIC

# What fastavro raises on bytes that do not match the writer schema (short input, bad union index, invalid
# UTF-8 or uuid, timestamps beyond datetime's range).
_READ_ERRORS = (
    ValueError,
    TypeError,
    EOFError,
    IndexError,
    KeyError,
    OverflowError,
    MemoryError,
    StructError,
    SchemaResolutionError,
)
_WRITE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError, StructError)
_PLAIN_TYPES = frozenset({"null", "boolean", "int", "long", "float", "double", "string"})


@dataclass(frozen=True, slots=True)
class Decoded:
    subject: str
    record: dict[str, Any]
    fingerprint: bytes


def encode(catalog: Catalog, subject: str, record: dict[str, Any], version: int | None = None) -> bytes:
    entry = catalog.version(subject, version)
    unknown = record.keys() - entry.field_names
    if unknown:
        # fastavro would drop them without a word; a v2 field sent as v1 is data lost.
        raise EncodeError(f"{subject} v{entry.version} has no field {sorted(unknown)!r}: {record!r}")
    out = BytesIO()
    out.write(MAGIC + entry.fingerprint)
    try:
        schemaless_writer(out, entry.parsed, record)
    except _WRITE_ERRORS as exc:
        raise EncodeError(f"{subject} v{entry.version}: cannot encode {record!r}: {exc}") from exc
    return out.getvalue()


def decode(catalog: Catalog, data: bytes, logical: bool = True) -> Decoded:
    """`logical=False` is the fast path: timestamps stay epoch millis (int) and uuids stay strings."""
    if data[:2] != MAGIC or len(data) < HEADER_SIZE:
        raise DecodeError(f"not single-object Avro (magic C3 01, 8-byte fingerprint): {bytes(data[:16])!r}")
    fingerprint = bytes(data[2:HEADER_SIZE])
    plan = catalog.decode_cache.get((fingerprint, logical))
    if plan is None:
        plan = catalog.decode_cache[(fingerprint, logical)] = _Plan(catalog, fingerprint, logical)
    return plan.decode(data)


class _Plan:
    __slots__ = ("fingerprint", "projection", "reader", "subject", "writer")

    def __init__(self, catalog: Catalog, fingerprint: bytes, logical: bool) -> None:
        writer = catalog.entry(fingerprint)
        try:
            reader = catalog.latest_entry(writer.subject)
        except SchemaError:
            reader = writer
        self.subject = writer.subject
        self.fingerprint = fingerprint
        self.writer = writer.parsed if logical else writer.parsed_raw
        self.reader: dict[str, Any] | None = None
        self.projection: tuple[tuple[str, bool, Any], ...] | None = None
        if reader.fingerprint != writer.fingerprint:
            self.projection = _projection(writer, reader, logical)
            if self.projection is None:
                self.reader = reader.parsed if logical else reader.parsed_raw

    def decode(self, data: bytes) -> Decoded:
        body = BytesIO(data)
        body.seek(HEADER_SIZE)
        try:
            record: Any = schemaless_reader(body, self.writer, self.reader)
        except _READ_ERRORS as exc:
            raise DecodeError(
                f"{self.subject} {self.fingerprint.hex()}: bad body {bytes(data)!r}: {exc}"
            ) from exc
        if body.tell() != len(data):
            raise DecodeError(f"{self.subject} {self.fingerprint.hex()}: trailing bytes in {bytes(data)!r}")
        if self.projection is not None:
            record = {
                name: record[name] if present else default for name, present, default in self.projection
            }
        return Decoded(self.subject, record, self.fingerprint)


def _projection(
    writer: SchemaVersion, reader: SchemaVersion, logical: bool
) -> tuple[tuple[str, bool, Any], ...] | None:
    """Resolution as a projection, when it is one: top-level fields of plain types, same types both sides."""
    writer_types = {f["name"]: f["type"] for f in writer.schema["fields"]}
    plan = []
    for field in reader.schema["fields"]:
        name, field_type = field["name"], field["type"]
        if "aliases" in field or not _plain(field_type):
            return None
        if name in writer_types:
            if not _same_type(writer_types[name], field_type, logical):
                return None
            plan.append((name, True, None))
        elif "default" in field and not _has_logical_type(field_type):
            plan.append((name, False, field["default"]))
        else:
            return None
    return tuple(plan)


def _plain(schema: Any) -> bool:
    if isinstance(schema, list):
        return all(_plain(branch) for branch in schema)
    if isinstance(schema, dict):
        return schema.get("type") in _PLAIN_TYPES
    return schema in _PLAIN_TYPES


def _has_logical_type(schema: Any) -> bool:
    return "logicalType" in json.dumps(schema)


def _same_type(a: Any, b: Any, logical: bool) -> bool:
    def norm(schema: Any) -> str:
        if isinstance(schema, dict):
            schema = {k: v for k, v in schema.items() if k != "doc" and (logical or k != "logicalType")}
            if list(schema) == ["type"]:
                schema = schema["type"]
        elif isinstance(schema, list):
            return json.dumps([norm(branch) for branch in schema])
        return json.dumps(schema, sort_keys=True)

    return norm(a) == norm(b)
