"""Errors of the stream job, under one root.

A `RejectedEventError` parks its event in the dead-letter topic under its `reason`; the job keeps running.
"""

from __future__ import annotations

from typing import ClassVar

from ground import MovieviewsError


class StreamError(MovieviewsError):
    """Root of every error raised by `stream`."""


class RejectedEventError(StreamError):
    """An event the job cannot count: dead-lettered with `reason`, the message as detail."""

    reason: ClassVar[str] = "rejected"


class UndecodableError(RejectedEventError):
    reason = "undecodable"


class UnknownWriterSchemaError(RejectedEventError):
    """The writer schema's fingerprint is unknown: `movieviews dlq replay` once it is registered."""

    reason = "unknown-schema"


class UnknownEventTypeError(RejectedEventError):
    reason = "unknown-event-type"


class MissingFieldError(RejectedEventError):
    reason = "missing-field"


class EmptyMovieIdError(RejectedEventError):
    reason = "empty-movie-id"


class InvalidFieldValueError(RejectedEventError):
    """A field outside the definition of a valid field (`schemas.fields`): a control character, another
    normalisation form, a number out of bounds. Written by a producer that bypassed the checks; not replayable
    as it is."""

    reason = "invalid_field"


class FlinkRestError(StreamError):
    """The JobManager's REST API did not answer or refused a request."""


class LagError(StreamError):
    """Kafka did not answer a job's positions (its group's committed offsets or the log ends)."""
