"""Errors of the ingest package, under one root."""

from __future__ import annotations

from ground import MovieviewsError
from schemas.errors import InvalidFieldError, shown


class IngestError(MovieviewsError):
    """Root of every error raised by `ingest`."""


class ValidationError(IngestError):
    """An event field with a bad value; nothing was published."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        super().__init__(f"{field} {expected}, got {shown(value)}")
        self.field = field
        self.value = value

    @classmethod
    def of(cls, error: InvalidFieldError) -> ValidationError:
        """The definition's error (`schemas.fields`) as this package's, naming the same field."""
        return cls(error.field, error.value, error.expected)


class PublishError(IngestError):
    """The broker did not acknowledge an event (error or timeout); it may or may not be stored."""


class TopicError(IngestError):
    """A topic could not be created or deleted; the message names it and the broker."""


class TopicNotAllowedError(TopicError):
    """The broker's authorizer refused the principal the topic's creation."""
