"""Errors of the schemas package: one root, so callers can catch everything schema-related at once."""

from __future__ import annotations

from ground import MovieviewsError


class SchemaError(MovieviewsError):
    """Root of every error raised by `schemas`."""


class DecodeError(SchemaError):
    """Bytes that are not a valid single-object Avro message of a known schema."""


class UnknownSchemaError(DecodeError):
    """The writer schema's fingerprint is in neither the bundled nor the run-time catalog.

    The message itself may be fine: park it (dead letter `unknown-schema`) and replay it once the schema is
    known.
    """

    def __init__(self, fingerprint: bytes) -> None:
        super().__init__(f"unknown writer schema fingerprint {fingerprint.hex()}")
        self.fingerprint = fingerprint


class EncodeError(SchemaError):
    """A record that does not fit its schema."""


class IncompatibleSchemaError(SchemaError):
    """A schema version cannot read data written by an earlier version of its subject."""
