"""The original system's REST calls, kept on the same app over the same commands and store."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingest.errors import ValidationError
from ingest.events import canonical_event_id
from readmodel import arguments
from readmodel.commands import Accepted, MovieInput, ViewInput
from readmodel.context import ReadModelContext
from readmodel.errors import InvalidArgumentError as Invalid
from readmodel.errors import ReadModelError
from readmodel.metrics import REFUSALS_BY_LIMIT
from readmodel.responses import error_response, json_response

DEFAULT_LIMIT = 10
IDEMPOTENCY_KEY = "Idempotency-Key"

T = TypeVar("T")


def accepted_response(accepted: Accepted, status_code: int) -> Response:
    return json_response(
        {"movieId": accepted.movie_id, "eventId": accepted.event_id, "acceptedAt": accepted.accepted_at},
        status_code,
    )


def routes(ctx: ReadModelContext) -> list[Route]:
    async def register_movie(request: Request) -> Response:
        try:
            body = await _json_object(request)
            movie = MovieInput(
                _field(body, "title", str), _field(body, "year", int), _field(body, "genre", str)
            )
            return accepted_response(await ctx.commands.register_movie(movie), 201)
        except ReadModelError as exc:
            return error_response(exc)

    async def record_view(request: Request) -> Response:
        try:
            body = await _json_object(request) if await request.body() else {}
            view = ViewInput(
                request.path_params["movie_id"],
                user_id=_optional(body, "userId", str),
                device=_optional(body, "device", str),
                country=_optional(body, "country", str),
                watch_seconds=_optional(body, "watchSeconds", int),
                event_id=_idempotency_key(request),
            )
            return accepted_response(await ctx.commands.record_view(view), 202)
        except ReadModelError as exc:
            return error_response(exc)

    async def views(request: Request) -> Response:
        try:
            limit = _limit(request.query_params.get("limit"), ctx.top_limit_max)
            genre = arguments.genre("genre", request.query_params.get("genre"))
            page = await ctx.store.top(limit, genre, None)
        except ReadModelError as exc:
            return error_response(exc)
        entries = [
            {"rank": rank, "movieId": r.movie_id, "title": r.title, "genre": r.genre, "views": r.view_count}
            for rank, r in enumerate(page.rows, start=1)
        ]
        return json_response({"asOf": page.as_of, "views": entries})

    return [
        Route("/api/movie", register_movie, methods=["POST"], name="rest_register_movie"),
        Route("/api/view/{movie_id}", record_view, methods=["POST"], name="rest_record_view"),
        Route("/api/views", views, methods=["GET"], name="rest_views"),
    ]


async def _json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; a body that is none (not JSON, not UTF-8, another JSON value) is refused and
    counted as malformed, as on /graphql."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        REFUSALS_BY_LIMIT["malformed"].inc()
        raise Invalid(
            "body", "is not valid JSON", "Send a JSON object with Content-Type application/json."
        ) from exc
    if not isinstance(body, dict):
        REFUSALS_BY_LIMIT["malformed"].inc()
        raise Invalid("body", "must be a JSON object", "Send a JSON object with the fields by name.")
    return body


def _field(body: dict[str, Any], name: str, kind: type[T]) -> T:
    value = body.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise Invalid(name, f"must be a {kind.__name__}", f"Send '{name}' as a JSON {kind.__name__}.")
    return value


def _optional(body: dict[str, Any], name: str, kind: type[T]) -> T | None:
    return None if body.get(name) is None else _field(body, name, kind)


def _idempotency_key(request: Request) -> str | None:
    """The REST spelling of recordView's `eventId`; checked here so the error names the header."""
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is not None:
        try:
            return canonical_event_id(key)
        except ValidationError as exc:
            hint = "Send a UUID of your own; a retry sends the same one."
            raise Invalid(IDEMPOTENCY_KEY, f"must be a UUID, got {key!r}", hint) from exc
    return None


def _limit(raw: str | None, maximum: int) -> int:
    try:
        limit = DEFAULT_LIMIT if raw is None else int(raw)
    except ValueError as exc:
        raise Invalid("limit", f"must be an integer, got {raw!r}", "Pass limit=10, for example.") from exc
    if not 1 <= limit <= maximum:
        raise Invalid("limit", f"must be between 1 and {maximum}, got {limit}", f"Pass at most {maximum}.")
    return limit
