"""Requests that are no GraphQL request, too large a body, too deep an introspection: refused with an error in
the GraphQL shape (the REST shape under /api), never a 500, and counted in the refusal metric."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from graphql import get_introspection_query
from prometheus_client import REGISTRY
from starlette.routing import BaseRoute, Route
from starlette.types import Message
from test_readmodel_reused import Keys
from test_readmodel_schema import FakePublisher, FakeStore, row

from readmodel import rest
from readmodel.app import ReadModelApp
from readmodel.cache import ResponseCache
from readmodel.commands import Commands
from readmodel.context import ReadModelContext
from readmodel.cost import MAX_INTROSPECTION_DEPTH
from readmodel.fanout import FanOut
from readmodel.graphql_endpoint import ReadModelGraphQL
from readmodel.guard import Admission, GuardConfig
from readmodel.ratelimit import TokenBuckets
from readmodel.schema import build_schema

pytestmark = pytest.mark.anyio
schema = build_schema()

LIMIT = 4096
TYPENAME = b'{"query": "{ __typename }"}'
REFUSALS = "movieviews_api_rate_limit_refusals_total"


def app() -> ReadModelApp:
    cache = ResponseCache()
    cache.set_enabled(True)
    admission = Admission(Keys(), TokenBuckets(), GuardConfig(False, 1000, 1000))  # type: ignore[arg-type]
    context = ReadModelContext(FakeStore([row("m-1", 7)]), Commands(FakePublisher()), 100)  # type: ignore[arg-type]
    graphql = ReadModelGraphQL(schema, context, cache, FanOut())
    routes: list[BaseRoute] = [Route("/graphql", graphql, methods=["GET", "POST"]), *rest.routes(context)]
    return ReadModelApp(routes, cache, admission, max_body_bytes=LIMIT)


@asynccontextmanager
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app()), base_url="http://api") as http:
        yield http


def refused(limit: str) -> float:
    return REGISTRY.get_sample_value(REFUSALS, {"limit": limit}) or 0.0


def graphql_error(response: httpx.Response) -> dict[str, Any]:
    """The one error of a GraphQL-shaped refusal."""
    body = response.json()
    assert response.headers["content-type"] == "application/json" and body["data"] is None, body
    [error] = body["errors"]
    return error  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("body", "argument", "message"),
    [
        (b"not json", "body", "The body is not JSON in UTF-8: invalid literal"),
        (b'{"query": "{ __typename }"', "body", "The body is not JSON in UTF-8: unexpected end of data"),
        (b'{"query": "\xff\xfe"}', "body", "The body is not JSON in UTF-8: str is not valid UTF-8"),
        (b"", "body", "The body is not JSON in UTF-8: Input is a zero-length, empty document"),
        (b'[{"query": "{ __typename }"}]', "body", "A JSON array of operations (a batch) is not supported"),
        (b'"{ __typename }"', "body", "The body must be a JSON object"),
        (b"null", "body", "The body must be a JSON object"),
        (b"{}", "query", "'query' must be a string (the GraphQL document), got nothing"),
        (b'{"query": 5}', "query", "'query' must be a string (the GraphQL document), got a number"),
        (
            b'{"query": "{ __typename }", "variables": [1]}',
            "variables",
            "'variables' must be an object, got an array",
        ),
        (
            b'{"query": "{ __typename }", "variables": "x"}',
            "variables",
            "'variables' must be an object, got a string",
        ),
        (
            b'{"query": "{ __typename }", "operationName": 5}',
            "operationName",
            "'operationName' must be a string",
        ),
        (b'{"query": "{ __typename }", "extensions": true}', "extensions", "'extensions' must be an object"),
    ],
)
async def test_a_body_that_is_no_graphql_request_is_refused_with_400_naming_what_is_wrong(
    body: bytes, argument: str, message: str
) -> None:
    before = refused("malformed")
    async with client() as http:
        response = await http.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    error = graphql_error(response)
    assert response.status_code == 400 and error["message"].startswith(message), error
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["argument"] == argument
    assert refused("malformed") == before + 1


@pytest.mark.parametrize(
    ("method", "url", "body", "headers", "status", "message"),
    [
        ("POST", "/graphql", TYPENAME, {"Content-Type": "text/plain"}, 400, "Unsupported content type"),
        (
            "GET",
            "/graphql?query=mutation%20%7B%20__typename%20%7D",
            b"",
            {"Accept": "application/json"},
            400,
            "mutations are not allowed when using GET",
        ),
    ],
)
async def test_what_strawberry_refuses_is_answered_in_the_graphql_shape_too(
    method: str, url: str, body: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    before = refused("malformed")
    async with client() as http:
        response = await http.request(method, url, content=body, headers=headers)
    error = graphql_error(response)
    assert response.status_code == status and error["message"].startswith(message), error
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and refused("malformed") == before + 1


async def test_a_well_formed_request_still_runs_after_refusals() -> None:
    async with client() as http:
        await http.post("/graphql", content=b"[]")
        response = await http.post("/graphql", content=TYPENAME, headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and response.json() == {"data": {"__typename": "Query"}}


async def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_refused_with_413() -> None:
    padded = TYPENAME[:-1] + b" " * (LIMIT - len(TYPENAME)) + b"}"
    before = refused("body_size")
    async with client() as http:
        fits = await http.post("/graphql", content=padded, headers={"Content-Type": "application/json"})
        over = await http.post(
            "/graphql", content=padded + b" ", headers={"Content-Type": "application/json"}
        )
    assert len(padded) == LIMIT and fits.status_code == 200, fits.text
    error = graphql_error(over)
    assert over.status_code == 413 and over.headers["connection"] == "close"
    assert error["message"] == f"The request body is larger than {LIMIT} bytes"
    assert error["extensions"]["code"] == "BODY_TOO_LARGE" and refused("body_size") == before + 1


async def call(headers: list[tuple[bytes, bytes]], chunks: int, chunk: bytes) -> tuple[list[Message], int]:
    """POSTs `chunks` chunks of `chunk` to /graphql through the app, at the ASGI level: what it sent back, and
    how many chunks it read."""
    read, sent = 0, []

    async def receive() -> Message:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": read < chunks}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": headers, "query_string": b""}
    await app()(scope, receive, send)
    return sent, read


async def test_a_declared_length_over_the_limit_is_refused_before_a_byte_of_the_body_is_read() -> None:
    sent, read = await call([(b"content-length", b"10485760")], chunks=640, chunk=b" " * 16384)
    assert read == 0 and sent[0]["status"] == 413
    assert orjson.loads(sent[1]["body"])["errors"][0]["extensions"]["code"] == "BODY_TOO_LARGE"


async def test_a_chunked_body_is_refused_once_the_bytes_received_pass_the_limit() -> None:
    # 10 MB in 1 KB chunks, no Content-Length: reading stops at the chunk that passes the limit.
    sent, read = await call([], chunks=10240, chunk=b" " * 1024)
    assert read == LIMIT // 1024 + 1 and sent[0]["status"] == 413


@pytest.mark.parametrize(
    ("path", "body"),
    [("/api/movie", b"{not json"), ("/api/movie", b"[1, 2]"), ("/api/view/m-1", b"\xff")],
)
async def test_a_rest_body_that_is_no_json_object_is_refused_with_400_in_the_rest_shape(
    path: str, body: bytes
) -> None:
    before = refused("malformed")
    async with client() as http:
        response = await http.post(path, content=body, headers={"Authorization": "Bearer mv_a1_secret"})
    assert response.status_code in (400, 403), response.text
    if response.status_code == 400:
        assert response.json()["code"] == "BAD_USER_INPUT" and response.json()["argument"] == "body"
        assert refused("malformed") == before + 1


async def test_a_rest_body_over_the_limit_is_refused_with_413_in_the_rest_shape() -> None:
    async with client() as http:
        response = await http.post("/api/view/m-1", content=b" " * (LIMIT + 1))
    assert response.status_code == 413 and response.json()["code"] == "BODY_TOO_LARGE"


async def test_the_standard_introspection_query_is_answered() -> None:
    query = get_introspection_query(descriptions=True, input_value_deprecation=True)
    async with client() as http:
        response = await http.post("/graphql", json={"query": query})
    assert response.status_code == 200 and "errors" not in response.json()
    assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_an_introspection_deeper_than_the_limit_is_refused_naming_the_limit() -> None:
    levels = MAX_INTROSPECTION_DEPTH  # __type is the first level
    query = '{ __type(name: "Query") { ' + "ofType { " * levels + "name" + " }" * levels + " } }"
    before = refused("cost")
    async with client() as http:
        response = await http.post("/graphql", json={"query": query})
    [error] = response.json()["errors"]
    assert error["message"].startswith(f"Introspection {levels + 1} levels deep; the limit is {levels}")
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["limit"] == "maxIntrospectionDepth" and refused("cost") == before + 1
