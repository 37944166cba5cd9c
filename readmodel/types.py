"""GraphQL object types: thin views over the store's rows and the commands' results."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from readmodel.commands import Accepted
from readmodel.cursor import Cursor
from readmodel.pipeline import PipelineStatus
from readmodel.store import MovieRow, TrendingPage

# GraphQL's Int is 32-bit: a view count past 2^31 would fail to serialise. JSON numbers carry it exactly up to
# 2^53, which no counter here will reach.
Long = NewType("Long", int)
SCALARS: dict[object, ScalarDefinition] = {
    Long: strawberry.scalar(
        name="Long", serialize=int, parse_value=int, description="A 64-bit integer, as a JSON number."
    )
}


@strawberry.type
class Movie:
    id: strawberry.ID
    title: str | None
    year: int | None
    genre: str | None
    view_count: Long
    watch_seconds: Long = strawberry.field(description="Sum of watch_seconds over the views that carried it.")
    first_viewed_at: datetime | None
    last_viewed_at: datetime | None
    updated_at: datetime = strawberry.field(description="When the stream job last wrote this snapshot.")

    @classmethod
    def from_row(cls, row: MovieRow) -> Movie:
        return cls(
            id=strawberry.ID(row.movie_id),
            title=row.title,
            year=row.year,
            genre=row.genre,
            view_count=Long(row.view_count),
            watch_seconds=Long(row.watch_seconds),
            first_viewed_at=row.first_viewed_at,
            last_viewed_at=row.last_viewed_at,
            updated_at=row.updated_at,
        )


@strawberry.type
class TopMovieEntry:
    rank: int
    movie: Movie
    view_count: Long
    last_viewed_at: datetime | None
    cursor: str


@strawberry.type
class TopMoviesPage:
    entries: list[TopMovieEntry]
    end_cursor: str | None
    has_next_page: bool
    as_of: datetime | None = strawberry.field(
        description="updatedAt of the freshest snapshot in the read model: how current the ranking is."
    )

    @classmethod
    def build(
        cls, rows: list[MovieRow], first_rank: int, genre: str | None, has_next: bool, as_of: datetime | None
    ) -> TopMoviesPage:
        entries = [
            TopMovieEntry(
                rank=rank,
                movie=Movie.from_row(row),
                view_count=Long(row.view_count),
                last_viewed_at=row.last_viewed_at,
                cursor=Cursor(row.view_count, row.movie_id, rank, genre).encode(),
            )
            for rank, row in enumerate(rows, start=first_rank)
        ]
        end_cursor = entries[-1].cursor if entries else None
        return cls(entries=entries, end_cursor=end_cursor, has_next_page=has_next, as_of=as_of)


@strawberry.type
class EventAccepted:
    movie_id: strawberry.ID
    event_id: strawberry.ID
    accepted_at: datetime = strawberry.field(description="When Kafka acknowledged the event (UTC).")

    @classmethod
    def from_accepted(cls, accepted: Accepted) -> EventAccepted:
        return cls(
            movie_id=strawberry.ID(accepted.movie_id),
            event_id=strawberry.ID(accepted.event_id),
            accepted_at=accepted.accepted_at,
        )


@strawberry.type
class RatePoint:
    at: datetime
    views_per_second: float


@strawberry.type
class Pipeline:
    job_state: str = strawberry.field(
        description="Flink's state of the stream job; NOT_RUNNING if none runs, UNREACHABLE without Flink."
    )
    last_checkpoint_age_seconds: float | None = strawberry.field(
        description="Seconds since the job's latest completed checkpoint was acknowledged."
    )
    dead_letters: Long | None = strawberry.field(description="Events the running job parked as undecodable.")
    lag: Long | None = strawberry.field(
        description="Records in the log past the position the job committed with its last checkpoint; null "
        "if Kafka does not answer."
    )
    total_views: Long = strawberry.field(description="Views counted in the read model, over every movie.")
    read_model_age_seconds: float | None = strawberry.field(
        description="Seconds since the stream job last wrote to the read model."
    )
    views_per_second: list[RatePoint] = strawberry.field(
        description="The read model's total views per second, oldest first, over the last minutes."
    )

    @classmethod
    def from_status(cls, status: PipelineStatus) -> Pipeline:
        job = status.job
        return cls(
            job_state=job.state,
            last_checkpoint_age_seconds=job.last_checkpoint_age_s,
            dead_letters=None if job.dead_letters is None else Long(job.dead_letters),
            lag=None if job.lag is None else Long(job.lag),
            total_views=Long(status.total_views),
            read_model_age_seconds=status.read_model_age_s,
            views_per_second=[RatePoint(at=at, views_per_second=rate) for at, rate in status.rates],
        )


@strawberry.enum(description="A trending window of event time, ending at the watermark's minute.")
class TrendingWindow(Enum):
    HOUR = "hour"
    DAY = "day"


@strawberry.type
class TrendingEntry:
    rank: int
    movie_id: strawberry.ID
    title: str | None
    genre: str | None
    views: Long = strawberry.field(description="Views whose occurred_at falls in the window.")


@strawberry.type
class Trending:
    window: TrendingWindow
    window_end: datetime | None = strawberry.field(
        description="Event time the windows end at (exclusive): the watermark's minute, rounded up."
    )
    entries: list[TrendingEntry]

    @classmethod
    def build(cls, window: TrendingWindow, page: TrendingPage) -> Trending:
        entries = [
            TrendingEntry(
                rank=rank,
                movie_id=strawberry.ID(r.movie_id),
                title=r.title,
                genre=r.genre,
                views=Long(r.views),
            )
            for rank, r in enumerate(page.rows, start=1)
        ]
        return cls(window=window, window_end=page.window_end, entries=entries)
