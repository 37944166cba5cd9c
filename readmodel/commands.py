"""Write operations: validate, publish through ingest/, answer only once Kafka acknowledged the event.

Shared by the GraphQL mutations and the REST routes, so both validate and fail the same way.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ingest.errors import PublishError, ValidationError
from ingest.events import MovieRegistered, MovieViewed
from readmodel.errors import BrokerUnavailableError, InvalidArgumentError
from readmodel.metrics import PENDING, RECORD_VIEWS_BY_OUTCOME

# Long enough for librdkafka to retry through a broker leader change, short enough that a client facing a dead
# broker gets its error while it is still waiting for the answer.
PUBLISH_TIMEOUT_S = 5.0

# ingest names event fields; clients know the GraphQL argument names.
ARGUMENT_NAMES = {
    "movie_id": "movieId",
    "user_id": "userId",
    "watch_seconds": "watchSeconds",
    "event_id": "eventId",
}


class Delivery(Protocol):
    @property
    def event_id(self) -> str: ...

    @property
    def acknowledged_at(self) -> datetime: ...


class Publisher(Protocol):
    def start(self) -> None: ...

    def close(self) -> None: ...

    async def publish(self, event: Any, timeout: float) -> Delivery: ...


@dataclass(frozen=True)
class Accepted:
    movie_id: str
    event_id: str
    accepted_at: datetime


@dataclass(frozen=True)
class ViewInput:
    movie_id: str
    user_id: str | None = None
    device: str | None = None
    country: str | None = None
    watch_seconds: int | None = None
    # The client's own id: a retry with the same one is the same event, counted once by the job.
    event_id: str | None = None


@dataclass(frozen=True)
class MovieInput:
    title: str
    year: int
    genre: str


class Commands:
    def __init__(self, publisher: Publisher, timeout: float = PUBLISH_TIMEOUT_S) -> None:
        self._publisher = publisher
        self._timeout = timeout

    async def record_view(self, view: ViewInput) -> Accepted:
        try:
            try:
                event = MovieViewed.new(
                    view.movie_id,
                    user_id=view.user_id,
                    device=view.device,
                    country=view.country,
                    watch_seconds=view.watch_seconds,
                    event_id=view.event_id,
                )
            except ValidationError as exc:
                raise _invalid(exc) from exc
            accepted = await self._publish(view.movie_id, event)
        except InvalidArgumentError:
            RECORD_VIEWS_BY_OUTCOME["invalid"].inc()
            raise
        except BrokerUnavailableError:
            RECORD_VIEWS_BY_OUTCOME["failed"].inc()
            raise
        PENDING.count(RECORD_VIEWS_BY_OUTCOME["acknowledged"])
        return accepted

    async def register_movie(self, movie: MovieInput) -> Accepted:
        movie_id = str(uuid.uuid4())
        try:
            event = MovieRegistered.new(movie_id, movie.title, movie.year, movie.genre)
        except ValidationError as exc:
            raise _invalid(exc) from exc
        return await self._publish(movie_id, event)

    async def _publish(self, movie_id: str, event: Any) -> Accepted:
        try:
            delivery = await self._publisher.publish(event, timeout=self._timeout)
        except ValidationError as exc:
            # The schema check happens at encoding time, inside publish.
            raise _invalid(exc) from exc
        except (PublishError, TimeoutError) as exc:
            # A timeout is an unacknowledged publish too (the schema registration wait raises it bare).
            raise BrokerUnavailableError(str(exc) or "no acknowledgement in time") from exc
        return Accepted(movie_id, delivery.event_id, delivery.acknowledged_at)


def _invalid(exc: ValidationError) -> InvalidArgumentError:
    field = exc.field
    return InvalidArgumentError(
        ARGUMENT_NAMES.get(field, field), str(exc), "Correct the argument and send the request again."
    )
