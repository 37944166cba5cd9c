"""Schema-level behaviour that needs no service: argument validation, errors, depth limit, 64-bit counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY

from readmodel.apikeys import Principal
from readmodel.commands import Commands
from readmodel.context import ReadModelContext
from readmodel.errors import DatabaseUnavailableError
from readmodel.schema import build_schema
from readmodel.store import MovieRow, TopPage

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
schema = build_schema()


def row(movie_id: str, views: int) -> MovieRow:
    return MovieRow(movie_id, "T", 1999, "drama", views, 0, NOW, NOW, NOW)


class FakeStore:
    def __init__(self, rows: list[MovieRow], fail: Exception | None = None) -> None:
        self.rows, self.fail = rows, fail

    async def top(self, limit: int, genre: str | None, after: Any) -> TopPage:
        if self.fail:
            raise self.fail
        return TopPage(self.rows[:limit], len(self.rows) > limit, NOW)

    async def movie(self, movie_id: str) -> MovieRow | None:
        return next((r for r in self.rows if r.movie_id == movie_id), None)


@dataclass
class FakeDelivery:
    event_id: str = "e-1"
    acknowledged_at: datetime = NOW


class FakePublisher:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def start(self) -> None: ...

    def close(self) -> None: ...

    async def publish(self, event: Any, timeout: float) -> FakeDelivery:
        self.events.append(event)
        return FakeDelivery()


ADMIN = Principal("k-1", "tests", frozenset({"admin"}), None)


def context(store: FakeStore | None = None, principal: Principal | None = ADMIN) -> ReadModelContext:
    return ReadModelContext(store or FakeStore([]), Commands(FakePublisher()), 100, principal=principal)  # type: ignore[arg-type]


async def execute(query: str, ctx: ReadModelContext | None = None, **variables: Any) -> Any:
    return await schema.execute(query, variable_values=variables, context_value=ctx or context())


TOP = """query($limit: Int!, $after: String) {
  topMovies(limit: $limit, after: $after) { entries { rank viewCount } }
}"""


@pytest.mark.anyio
@pytest.mark.parametrize("limit", [0, -1, 101])
async def test_limit_out_of_range_names_the_argument(limit: int) -> None:
    result = await execute(TOP, limit=limit)
    assert result.data is None
    [error] = result.errors
    assert error.extensions == {
        "code": "BAD_USER_INPUT",
        "argument": "limit",
        "suggestion": "Ask for at most 100 entries and page on with 'after: endCursor'.",
    }
    assert "limit" in error.message


@pytest.mark.anyio
async def test_malformed_cursor_names_after() -> None:
    result = await execute(TOP, limit=5, after="garbage")
    assert result.errors[0].extensions["argument"] == "after"


@pytest.mark.anyio
async def test_unknown_movie_names_id() -> None:
    result = await execute('{ movie(id: "nope") { id } }')
    assert result.errors[0].extensions["code"] == "NOT_FOUND"
    assert result.errors[0].extensions["argument"] == "id"


@pytest.mark.anyio
async def test_counts_beyond_32_bits_serialise() -> None:
    result = await execute(TOP, context(FakeStore([row("m-1", 2**40)])), limit=1)
    assert result.data == {"topMovies": {"entries": [{"rank": 1, "viewCount": 2**40}]}}


@pytest.mark.anyio
async def test_database_outage_is_a_clear_error() -> None:
    result = await execute(TOP, context(FakeStore([], DatabaseUnavailableError())), limit=1)
    assert result.errors[0].extensions["code"] == "DATABASE_UNAVAILABLE"


@pytest.mark.anyio
async def test_unexpected_errors_are_masked() -> None:
    result = await execute(TOP, context(FakeStore([], RuntimeError("password=secret"))), limit=1)
    assert result.errors[0].message == "Internal error; it was logged."
    assert "secret" not in str(result.errors[0].formatted)


@pytest.mark.anyio
async def test_query_depth_is_limited() -> None:
    # No type here nests back into itself, so only a document that is invalid anyway gets this deep; the
    # limiter still refuses it before any resolver runs.
    deep = "{ topMovies { entries { movie { a { b { c { d { e } } } } } } } }"
    result = await execute(deep)
    assert any("exceeds maximum operation depth of 6" in e.message for e in result.errors)


def cost_refusals() -> float:
    return REGISTRY.get_sample_value("movieviews_api_rate_limit_refusals_total", {"limit": "cost"}) or 0.0


@pytest.mark.anyio
async def test_each_request_refused_for_its_cost_is_counted_once_and_nothing_else_is() -> None:
    deep = "{ topMovies { entries { movie { a { b { c { d { e } } } } } } } }"
    aliased = "{" + " ".join(f'a{i}: movie(id: "m") {{ id }}' for i in range(11)) + "}"
    long = "{" + " ".join(f"a{i}: topMovies(limit: 1) {{ entries {{ rank }} }}" for i in range(200)) + "}"
    before = cost_refusals()
    for query in (deep, deep, aliased, long):  # the second `deep` is a validation-cache hit
        assert (await execute(query)).errors
    assert cost_refusals() == before + 4
    assert (await execute("{ nope }")).errors and (await execute(TOP, limit=0)).errors
    assert cost_refusals() == before + 4


@pytest.mark.anyio
async def test_impossible_year_names_year() -> None:
    result = await execute('mutation { registerMovie(title: "T", year: -5, genre: "drama") { movieId } }')
    assert result.errors[0].extensions["argument"] == "year"


@pytest.mark.anyio
async def test_register_movie_answers_a_fresh_uuid() -> None:
    result = await execute(
        'mutation { registerMovie(title: "T", year: 1999, genre: "drama") { movieId eventId } }'
    )
    assert result.errors is None
    assert len(result.data["registerMovie"]["movieId"]) == 36


@pytest.mark.anyio
async def test_mutations_check_the_scope_of_the_key() -> None:
    register = 'mutation { registerMovie(title: "T", year: 1999, genre: "drama") { movieId } }'
    views_only = Principal("k-2", "ingest", frozenset({"views:write"}), None)
    for principal, code in ((None, "UNAUTHENTICATED"), (views_only, "FORBIDDEN")):
        result = await schema.execute(register, context_value=context(principal=principal))
        assert result.data is None and result.errors[0].extensions["code"] == code
    viewed = await schema.execute(
        'mutation { recordView(movieId: "m") { eventId } }', context_value=context(principal=views_only)
    )
    assert viewed.errors is None


@pytest.mark.anyio
async def test_record_view_with_a_client_event_id_publishes_that_id_in_canonical_form() -> None:
    publisher = FakePublisher()
    ctx = ReadModelContext(FakeStore([]), Commands(publisher), 100, principal=ADMIN)  # type: ignore[arg-type]
    client_id = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
    for _retry in range(2):
        result = await execute(
            'mutation($e: ID) { recordView(movieId: "m-1", eventId: $e) { eventId } }', ctx, e=client_id
        )
        assert result.errors is None
    assert [e.event_id for e in publisher.events] == [client_id.lower()] * 2


@pytest.mark.anyio
async def test_a_malformed_event_id_names_the_argument() -> None:
    result = await execute('mutation { recordView(movieId: "m-1", eventId: "retry-1") { eventId } }')
    assert result.data is None
    assert result.errors[0].extensions["argument"] == "eventId"
    assert "UUID" in result.errors[0].message
