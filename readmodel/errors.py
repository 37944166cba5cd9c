"""Errors a client can act on. Each carries a message and a suggestion; GraphQL puts them in `extensions`.

graphql-core copies an original error's `extensions` onto the GraphQL error it builds, so raising one of these
from a resolver is all it takes. Anything else is a bug and is masked before it reaches a client.
"""

from __future__ import annotations


class ReadModelError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str, suggestion: str, argument: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion
        self.argument = argument

    @property
    def extensions(self) -> dict[str, str]:
        ext = {"code": self.code, "suggestion": self.suggestion}
        if self.argument is not None:
            ext["argument"] = self.argument
        return ext


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

    def __init__(self) -> None:
        super().__init__(
            "The read-model database is unavailable",
            "Retry shortly; the API reconnects by itself when Postgres is back. Mutations keep working.",
        )


class BrokerUnavailableError(ReadModelError):
    code = "BROKER_UNAVAILABLE"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"The event was not acknowledged by Kafka: {detail}",
            "Retry the mutation shortly; nothing was recorded. Queries keep working.",
        )
