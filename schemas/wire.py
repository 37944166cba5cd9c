"""Avro single-object encoding: C3 01, the writer schema's CRC-64-AVRO fingerprint (8 bytes LE), body."""

from __future__ import annotations

import json
from typing import Any

from fastavro.schema import fingerprint as _fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form

MAGIC = b"\xc3\x01"
FINGERPRINT_SIZE = 8
HEADER_SIZE = len(MAGIC) + FINGERPRINT_SIZE


def canonical_form(schema: Any) -> str:
    return str(to_parsing_canonical_form(schema))


def fingerprint(schema: Any) -> bytes:
    """CRC-64-AVRO of the Parsing Canonical Form, in wire (little-endian) byte order.

    `schema` is loaded JSON (a dict, a list, or a type name), not JSON text.

    fastavro renders the fingerprint as the hex of its little-endian bytes, which is what the wire carries.
    """
    return bytes.fromhex(_fastavro_fingerprint(canonical_form(schema), "CRC-64-AVRO"))


def avro_package_fingerprint(schema: Any) -> bytes:
    """The fingerprint the Python `avro` package (1.12) writes: its canonical form keeps a logical-typed
    primitive as `{"type":"string"}` where the specification (Java, fastavro) has `"string"`. Readers take it
    as an alias of `fingerprint(schema)`; it equals that one when the schema has no logical types."""
    canonical = json.loads(canonical_form(schema))
    return bytes.fromhex(_fastavro_fingerprint(_json(_avro_package_form(schema, canonical)), "CRC-64-AVRO"))


def _avro_package_form(schema: Any, canonical: Any) -> Any:
    """`canonical` with each logical-typed primitive of `schema` (walked alongside it) wrapped as that package
    wraps it."""
    if isinstance(schema, dict):
        kind = schema.get("type")
        if "logicalType" in schema and isinstance(kind, str) and kind in _PRIMITIVES:
            return {"type": kind}
        if kind == "record" or kind == "error":
            for field, canonical_field in zip(schema["fields"], canonical["fields"], strict=True):
                canonical_field["type"] = _avro_package_form(field["type"], canonical_field["type"])
        elif kind == "array":
            canonical["items"] = _avro_package_form(schema["items"], canonical["items"])
        elif kind == "map":
            canonical["values"] = _avro_package_form(schema["values"], canonical["values"])
        elif isinstance(kind, dict | list):
            return _avro_package_form(kind, canonical)
        return canonical
    if isinstance(schema, list):
        return [_avro_package_form(s, c) for s, c in zip(schema, canonical, strict=True)]
    return canonical


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


def header(schema_fingerprint: bytes) -> bytes:
    return MAGIC + schema_fingerprint
