"""The GraphQL schema: resolvers validate arguments and delegate to the store and the commands."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.extensions import AddValidationRules, MaskErrors, ParserCache, ValidationCache
from strawberry.extensions.query_depth_limiter import create_validator
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, Info

from readmodel import cursor
from readmodel.commands import MovieInput, ViewInput
from readmodel.context import ReadModelContext
from readmodel.errors import InvalidArgumentError, MovieNotFoundError, ReadModelError
from readmodel.types import SCALARS, EventAccepted, Movie, TopMoviesPage

log = logging.getLogger(__name__)

# The deepest legitimate query is topMovies { entries { movie { id } } }: 4 levels. Two spare for fragments.
MAX_DEPTH = 6
# QueryDepthLimiter's rule, built once: ValidationCache keys on the rule classes, and QueryDepthLimiter built
# per request (as extension factories are) makes a new class each time, so every validation would miss.
DEPTH_RULE = create_validator(MAX_DEPTH, should_ignore=None)
# Distinct query documents a worker keeps parsed and validated; clients send a handful of shapes.
DOCUMENT_CACHE_SIZE = 256

ReadModelInfo = Info[ReadModelContext, None]


async def top_movies(
    info: ReadModelInfo, limit: int = 10, genre: str | None = None, after: str | None = None
) -> TopMoviesPage:
    ctx = info.context
    if not 1 <= limit <= ctx.top_limit_max:
        raise InvalidArgumentError(
            "limit",
            f"must be between 1 and {ctx.top_limit_max}, got {limit}",
            f"Ask for at most {ctx.top_limit_max} entries and page on with 'after: endCursor'.",
        )
    position = None if after is None else cursor.decode(after, genre)
    page = await ctx.store.top(limit, genre, position)
    first_rank = 1 if position is None else position.rank + 1
    return TopMoviesPage.build(list(page.rows), first_rank, genre, page.has_next, page.as_of)


async def movie(info: ReadModelInfo, id: strawberry.ID) -> Movie:
    row = await info.context.store.movie(str(id))
    if row is None:
        raise MovieNotFoundError(str(id))
    return Movie.from_row(row)


async def record_view(
    info: ReadModelInfo,
    movie_id: strawberry.ID,
    user_id: strawberry.ID | None = None,
    device: str | None = None,
    country: str | None = None,
    watch_seconds: int | None = None,
) -> EventAccepted:
    user = None if user_id is None else str(user_id)
    view = ViewInput(str(movie_id), user, device, country, watch_seconds)
    return EventAccepted.from_accepted(await info.context.commands.record_view(view))


async def register_movie(info: ReadModelInfo, title: str, year: int, genre: str) -> EventAccepted:
    accepted = await info.context.commands.register_movie(MovieInput(title, year, genre))
    return EventAccepted.from_accepted(accepted)


@strawberry.type
class Query:
    top_movies: TopMoviesPage = strawberry.field(
        resolver=top_movies, description="Movies ranked by view count; ties ordered by movie id."
    )
    movie: Movie = strawberry.field(resolver=movie)


@strawberry.type
class Mutation:
    record_view: EventAccepted = strawberry.mutation(
        resolver=record_view, description="Publish a MovieViewed event; answers once Kafka acknowledged it."
    )
    register_movie: EventAccepted = strawberry.mutation(
        resolver=register_movie, description="Publish a MovieRegistered event under a new movie id."
    )


class ReadModelSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # A client's mistake or a known outage is answered, not logged with a stack trace; the rest are bugs.
        for error in errors:
            if is_unexpected(error):
                log.error("unexpected error at %s", error.path, exc_info=error.original_error)


def is_unexpected(error: GraphQLError) -> bool:
    # Syntax and validation errors have no original error; resolver errors that are ours are ReadModelErrors.
    return error.original_error is not None and not isinstance(error.original_error, ReadModelError)


def build_schema() -> strawberry.Schema:
    return ReadModelSchema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=[
            lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
            lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
            lambda: AddValidationRules([DEPTH_RULE]),
            lambda: MaskErrors(
                should_mask_error=is_unexpected, error_message="Internal error; it was logged."
            ),
        ],
    )
