"""The GraphQL schema: resolvers validate arguments and delegate to the store and the commands."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import create_validator
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, Info

from readmodel import arguments, cursor
from readmodel.commands import MovieInput, ViewInput
from readmodel.context import ReadModelContext
from readmodel.cost import INTROSPECTION_DEPTH_RULE, MAX_ALIASES, MAX_TOKENS, ROOT_FIELDS_RULE, is_refusal
from readmodel.errors import (
    ForbiddenError,
    InvalidArgumentError,
    MovieNotFoundError,
    ReadModelError,
    UnauthenticatedError,
)
from readmodel.metrics import REFUSALS_BY_LIMIT
from readmodel.pipeline import PipelineStatus
from readmodel.store import MovieRow, TopPage, TrendingPage
from readmodel.types import (
    SCALARS,
    EventAccepted,
    Movie,
    Pipeline,
    TopMoviesPage,
    Trending,
    TrendingWindow,
)

log = logging.getLogger(__name__)

# The deepest legitimate query is topMovies { entries { movie { id } } }: 4 levels. Two spare for fragments.
MAX_DEPTH = 6
# QueryDepthLimiter's rule, built once: ValidationCache keys on the rule classes, and QueryDepthLimiter built
# per request (as extension factories are) makes a new class each time, so every validation would miss.
DEPTH_RULE = create_validator(MAX_DEPTH, should_ignore=None)
ALIASES_RULE = aliases_validator(MAX_ALIASES)
# Distinct query documents a worker keeps parsed and validated; clients send a handful of shapes.
DOCUMENT_CACHE_SIZE = 256
# What a client sees of an unexpected error (MaskErrors); the error itself is logged.
MASKED_MESSAGE = "Internal error; it was logged."
RECORD_VIEW_SCOPE = "views:write"

ReadModelInfo = Info[ReadModelContext, None]


def _check_limit(limit: int, maximum: int) -> None:
    if not 1 <= limit <= maximum:
        raise InvalidArgumentError(
            "limit",
            f"must be between 1 and {maximum}, got {limit}",
            f"Ask for at most {maximum} entries and page on with 'after: endCursor'.",
        )


async def top_movies(
    info: ReadModelInfo, limit: int = 10, genre: str | None = None, after: str | None = None
) -> TopMoviesPage:
    ctx = info.context
    _check_limit(limit, ctx.top_limit_max)
    genre = arguments.genre("genre", genre)
    position = None if after is None else cursor.decode(after, genre)
    page = await ctx.store.top(limit, genre, position)
    first_rank = 1 if position is None else position.rank + 1
    return TopMoviesPage.build(list(page.rows), first_rank, genre, page.has_next, page.as_of)


async def trending(
    info: ReadModelInfo, window: TrendingWindow, limit: int = 10, genre: str | None = None
) -> Trending:
    ctx = info.context
    _check_limit(limit, ctx.top_limit_max)
    genre = arguments.genre("genre", genre)
    page = await ctx.store.trending(window is TrendingWindow.DAY, limit, genre)
    return Trending.build(window, page)


async def trending_changed(
    info: ReadModelInfo, window: TrendingWindow, limit: int = 10, genre: str | None = None
) -> AsyncGenerator[Trending, None]:
    ctx = info.context
    _check_limit(limit, ctx.top_limit_max)
    genre = arguments.genre("genre", genre)

    async def load() -> TrendingPage:
        return await ctx.store.trending(window is TrendingWindow.DAY, limit, genre)

    pages = ctx.hub.subscribe(("trending", window, limit, genre), load, compared=lambda page: page.rows)
    async for page in pages:
        yield Trending.build(window, page)


async def movie(info: ReadModelInfo, id: strawberry.ID) -> Movie:
    movie_id = arguments.movie_id("id", str(id))
    row = await info.context.store.movie(movie_id)
    if row is None:
        raise MovieNotFoundError(movie_id)
    return Movie.from_row(row)


def require(info: ReadModelInfo, scope: str) -> None:
    """The mutation's scope check; the endpoint already refused mutations sent without a valid key."""
    principal = info.context.principal
    if principal is None:
        raise UnauthenticatedError("This mutation writes: an API key is required")
    if not principal.allows(scope):
        raise ForbiddenError(principal.key_id, scope)


async def record_view(
    info: ReadModelInfo,
    movie_id: strawberry.ID,
    user_id: strawberry.ID | None = None,
    device: str | None = None,
    country: str | None = None,
    watch_seconds: int | None = None,
    event_id: strawberry.ID | None = None,
) -> EventAccepted:
    require(info, RECORD_VIEW_SCOPE)
    user = None if user_id is None else str(user_id)
    client_id = None if event_id is None else str(event_id)
    view = ViewInput(str(movie_id), user, device, country, watch_seconds, client_id)
    return EventAccepted.from_accepted(await info.context.commands.record_view(view))


async def register_movie(info: ReadModelInfo, title: str, year: int, genre: str) -> EventAccepted:
    require(info, "movies:write")
    accepted = await info.context.commands.register_movie(MovieInput(title, year, genre))
    return EventAccepted.from_accepted(accepted)


async def top_movies_changed(
    info: ReadModelInfo, limit: int = 10, genre: str | None = None
) -> AsyncGenerator[TopMoviesPage, None]:
    ctx = info.context
    _check_limit(limit, ctx.top_limit_max)
    genre = arguments.genre("genre", genre)

    async def load() -> TopPage:
        return await ctx.store.top(limit, genre, None)

    # Compared on the entries: a write to a movie outside this ranking changes asOf but sends nothing.
    pages = ctx.hub.subscribe(("topMovies", limit, genre), load, compared=lambda page: page.rows)
    async for page in pages:
        yield TopMoviesPage.build(list(page.rows), 1, genre, page.has_next, page.as_of)


async def movie_changed(info: ReadModelInfo, id: strawberry.ID) -> AsyncGenerator[Movie | None, None]:
    store = info.context.store
    movie_id = arguments.movie_id("id", str(id))

    async def load() -> MovieRow | None:
        return await store.movie(movie_id)

    async for row in info.context.hub.subscribe(("movie", movie_id), load):
        yield None if row is None else Movie.from_row(row)


# Flink's REST API is polled, not notified: every 2 s is the chart's resolution and a handful of calls.
PIPELINE_PERIOD_S = 2.0


async def pipeline_changed(info: ReadModelInfo) -> AsyncGenerator[Pipeline, None]:
    probe = info.context.pipeline
    if probe is None:
        raise ReadModelError(
            "This API has no pipeline probe", "Subscribe to the API `movieviews up` started."
        )

    async def load() -> PipelineStatus:
        return await probe.status()

    async for status in info.context.hub.subscribe("pipeline", load, period_s=PIPELINE_PERIOD_S):
        yield Pipeline.from_status(status)


@strawberry.type
class Query:
    top_movies: TopMoviesPage = strawberry.field(
        resolver=top_movies, description="Movies ranked by view count; ties ordered by movie id."
    )
    movie: Movie = strawberry.field(resolver=movie)
    trending: Trending = strawberry.field(
        resolver=trending,
        description="Movies by views in the last hour or 24 hours of event time (occurred_at); ties by id.",
    )


@strawberry.type
class Mutation:
    record_view: EventAccepted = strawberry.mutation(
        resolver=record_view,
        description=(
            "Publish a MovieViewed event; answers once Kafka acknowledged it. A retry with the same eventId "
            "(a UUID of the client's) counts once and answers the same eventId."
        ),
    )
    register_movie: EventAccepted = strawberry.mutation(
        resolver=register_movie, description="Publish a MovieRegistered event under a new movie id."
    )


@strawberry.type
class Subscription:
    top_movies_changed: AsyncGenerator[TopMoviesPage, None] = strawberry.subscription(
        resolver=top_movies_changed,
        description="The ranking now, then again whenever its entries change (at most 5 messages a second).",
    )
    movie_changed: AsyncGenerator[Movie | None, None] = strawberry.subscription(
        resolver=movie_changed,
        description="The movie now (null until the read model has it), then again whenever it changes.",
    )
    trending_changed: AsyncGenerator[Trending, None] = strawberry.subscription(
        resolver=trending_changed,
        description="The trending ranking now, then again whenever its entries change.",
    )
    pipeline_changed: AsyncGenerator[Pipeline, None] = strawberry.subscription(
        resolver=pipeline_changed,
        description="The pipeline's health and views per second, every 2 s.",
    )


class ReadModelSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Called once per request with errors, validation errors cached or not: one refusal per request.
        if any(is_refusal(error) for error in errors):
            REFUSALS_BY_LIMIT["cost"].inc()
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
        subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=[
            lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
            lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
            lambda: MaxTokensLimiter(MAX_TOKENS),
            lambda: AddValidationRules(
                [DEPTH_RULE, INTROSPECTION_DEPTH_RULE, ALIASES_RULE, ROOT_FIELDS_RULE]
            ),
            lambda: MaskErrors(should_mask_error=is_unexpected, error_message=MASKED_MESSAGE),
        ],
    )
