"""Errors a client can act on. Each carries a message and a suggestion; GraphQL puts them in `extensions`.

graphql-core copies an original error's `extensions` onto the GraphQL error it builds, so raising one of these
from a resolver is all it takes. Anything else is a bug and is masked before it reaches a client.
"""

from __future__ import annotations

import math

from ground import MovieviewsError


class ReadModelError(MovieviewsError):
    code = "INTERNAL"
    # The REST status; GraphQL keeps 200 except for the codes in view.GRAPHQL_STATUS.
    http_status = 400
    # Seconds a client should wait before retrying (the Retry-After header), when waiting helps.
    retry_after: float | None = None

    def __init__(self, message: str, suggestion: str, argument: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion
        self.argument = argument

    @property
    def extensions(self) -> dict[str, object]:
        ext: dict[str, object] = {"code": self.code, "suggestion": self.suggestion}
        if self.argument is not None:
            ext["argument"] = self.argument
        if self.retry_after is not None:
            # To the millisecond, rounded up; the Retry-After header can only say whole seconds.
            ext["retryAfterSeconds"] = math.ceil(self.retry_after * 1000) / 1000
        return ext


def http_headers(error: ReadModelError) -> dict[str, str]:
    headers = {}
    if error.retry_after is not None:
        # Retry-After carries whole seconds: rounded up, so a client that waits that long is let through.
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    if error.code == "UNAUTHENTICATED":
        headers["WWW-Authenticate"] = 'Bearer realm="movieviews"'
    return headers


class InvalidArgumentError(ReadModelError):
    code = "BAD_USER_INPUT"

    def __init__(self, argument: str, message: str, suggestion: str) -> None:
        super().__init__(f"Argument '{argument}': {message}", suggestion, argument)


class MovieNotFoundError(ReadModelError):
    code = "NOT_FOUND"

    def __init__(self, movie_id: str) -> None:
        super().__init__(
            f"Argument 'id': no movie {movie_id!r} in the read model",
            "Check the id; a movie appears once the stream job has processed its registration or first view.",
            "id",
        )


class DatabaseUnavailableError(ReadModelError):
    code = "DATABASE_UNAVAILABLE"
    http_status = 503

    def __init__(self) -> None:
        super().__init__(
            "The read-model database is unavailable",
            "Retry shortly; the API reconnects by itself when Postgres is back. Mutations keep working.",
        )


class BrokerUnavailableError(ReadModelError):
    code = "BROKER_UNAVAILABLE"
    http_status = 503

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"The event was not acknowledged by Kafka: {detail}",
            "Retry the mutation shortly; nothing was recorded. Queries keep working.",
        )


class OverloadedError(ReadModelError):
    """The database is up but busy: every pooled connection is taken, or a statement ran out of time."""

    code = "OVERLOADED"
    http_status = 503
    retry_after = 1.0

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"The read model is busy: {detail}",
            "Retry after retryAfterSeconds (the Retry-After header); nothing is down.",
        )


class UnauthenticatedError(ReadModelError):
    code = "UNAUTHENTICATED"
    http_status = 401

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            "Send a key from `movieviews keys create` as `Authorization: Bearer <key>` (or `X-API-Key`).",
        )


class ForbiddenError(ReadModelError):
    code = "FORBIDDEN"
    http_status = 403

    def __init__(self, key_id: str, scope: str) -> None:
        super().__init__(
            f"Key {key_id!r} lacks the scope {scope!r}",
            f"Use a key created with `--scope {scope}` (or admin).",
        )


class RateLimitedError(ReadModelError):
    code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, who: str, rate_per_s: int, retry_after: float) -> None:
        super().__init__(
            f"Rate limit of {rate_per_s} requests/s (burst {2 * rate_per_s}) for {who} exceeded",
            "Retry after retryAfterSeconds (the Retry-After header); a key with a higher --rate allows more.",
        )
        self.retry_after = retry_after


class UnreadableRequestError(ReadModelError):
    """A request that is no GraphQL request (not JSON, a batch, a field of the wrong type) or that asks
    something the endpoint does not serve (a content type, a mutation by GET): refused before any execution,
    with the HTTP status that says so."""

    code = "BAD_USER_INPUT"

    def __init__(
        self, message: str, suggestion: str, argument: str | None = None, http_status: int = 400
    ) -> None:
        super().__init__(message, suggestion, argument)
        self.http_status = http_status


class BodyTooLargeError(ReadModelError):
    code = "BODY_TOO_LARGE"
    http_status = 413

    def __init__(self, maximum: int) -> None:
        super().__init__(
            f"The request body is larger than {maximum} bytes",
            "Send one operation per request, its values as variables; the limit is "
            "MOVIEVIEWS_API_MAX_BODY_BYTES on the server.",
        )


class HeadersTooLargeError(ReadModelError):
    code = "HEADERS_TOO_LARGE"
    http_status = 431

    def __init__(self, maximum: int) -> None:
        super().__init__(
            f"The request line and headers are larger than {maximum} bytes",
            "Send a long query in a POST body rather than the URL, and fewer or shorter headers.",
        )
