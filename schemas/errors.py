"""Errors of the schemas package: one root, so callers can catch everything schema-related at once."""

from __future__ import annotations

from ground import MovieviewsError

# How much of a bad value an error message shows.
SHOWN_MAX = 80


def shown(value: object) -> str:
    """The repr of a bad value, cut to SHOWN_MAX characters: a 10 MB string makes no 10 MB message."""
    text = repr(value)
    return text if len(text) <= SHOWN_MAX else f"{text[: SHOWN_MAX - 3]}..."


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


class InvalidFieldError(SchemaError):
    """A field value outside the one definition of a valid field (`schemas.fields`)."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        super().__init__(f"{field} {expected}, got {shown(value)}")
        self.field = field
        self.value = value
        self.expected = expected
