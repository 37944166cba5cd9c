"""Avro single-object encoding: C3 01, the writer schema's CRC-64-AVRO fingerprint (8 bytes LE), body."""

from __future__ import annotations

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


def header(schema_fingerprint: bytes) -> bytes:
    return MAGIC + schema_fingerprint
