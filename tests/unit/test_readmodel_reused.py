"""The lane for reused responses answers a cached query exactly as the full Starlette path would, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send
from test_readmodel_schema import FakePublisher, FakeStore, row

from readmodel.apikeys import Principal
from readmodel.app import ReadModelApp
from readmodel.cache import ResponseCache
from readmodel.commands import Commands
from readmodel.context import ReadModelContext
from readmodel.fanout import FanOut
from readmodel.graphql_endpoint import ReadModelGraphQL
from readmodel.guard import Admission, GuardConfig
from readmodel.metrics import PENDING
from readmodel.ratelimit import TokenBuckets
from readmodel.reused import ReusedResponses
from readmodel.schema import build_schema

pytestmark = pytest.mark.anyio
schema = build_schema()

TOP = "query Top($limit: Int!) { topMovies(limit: $limit) { asOf entries { rank viewCount movie { id } } } }"
BODY_LIMIT = 65_536  # MOVIEVIEWS_API_MAX_BODY_BYTES' default
GOOD, SLOW = "mv_a1_secret", "mv_s1_secret"  # a reader's key, and one allowed 1 request/s (burst 2)
PRINCIPALS = {
    GOOD: Principal("a1", "reader", frozenset(), None),
    SLOW: Principal("s1", "slow", frozenset(), 1),
}


class Keys:
    """The key ring, with two live keys."""

    async def authenticate(self, token: str) -> Principal | None:
        return PRINCIPALS.get(token)


class Api:
    """One app's two ways in: through the lane, as served, and its Starlette stack alone (the full path)."""

    def __init__(self, reads_need_key: bool = False) -> None:
        self.cache = ResponseCache()
        self.cache.set_enabled(True)  # as when the LISTEN connection is up
        config = GuardConfig(reads_need_key, key_rate=100, anonymous_rate=100)
        admission = Admission(Keys(), TokenBuckets(), config)  # type: ignore[arg-type]
        store = FakeStore([row("m-1", 7), row("m-2", 3)])
        context = ReadModelContext(store, Commands(FakePublisher()), 100)  # type: ignore[arg-type]
        graphql = ReadModelGraphQL(schema, context, self.cache, FanOut())
        routes = [Route("/graphql", graphql, methods=["GET", "POST"])]
        self.app = ReadModelApp(routes, self.cache, admission, max_body_bytes=BODY_LIMIT)
        self.stack = Starlette.build_middleware_stack(self.app)
        self.lane = ReusedResponses(self.full, self.cache, admission, BODY_LIMIT)
        self.full_calls = 0

    async def full(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.full_calls += 1
        scope["app"] = self.app  # as Starlette.__call__ sets it
        await self.stack(scope, receive, send)

    @asynccontextmanager
    async def client(self, through: Any) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(through), base_url="http://api") as client:
            yield client


async def top(client: httpx.AsyncClient, key: str | None = GOOD, **headers: str) -> httpx.Response:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return await client.post("/graphql", json={"query": TOP, "variables": {"limit": 2}}, headers=headers)


def answer(response: httpx.Response) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return response.status_code, response.headers.raw, response.content


def count(name: str, **labels: str) -> float:
    PENDING.flush()  # as a scrape sees it
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_cached_answer_through_the_lane_is_the_full_paths_byte_for_byte() -> None:
    api = Api()
    async with api.client(api.lane) as lane, api.client(api.full) as full:
        executed = await top(lane)  # a miss: the full path executes and stores it
        assert api.full_calls == 1 and executed.json()["data"]["topMovies"]["entries"][0]["rank"] == 1
        given = {"X-Request-ID": "client-id-1"}
        reused = await top(lane, **given)
        assert api.full_calls == 1  # answered by the lane
        assert answer(reused) == answer(await top(full, **given))
        assert reused.content == executed.content and reused.headers["content-type"] == "application/json"
        made = await top(lane)
        assert (
            len(made.headers["x-request-id"]) == 32
            and made.headers["x-request-id"] != executed.headers["x-request-id"]
        )


async def test_the_app_serves_through_the_lane() -> None:
    api = Api()
    async with api.client(api.app) as client:
        first, second = await top(client), await top(client)
    assert isinstance(api.app.middleware_stack, ReusedResponses)
    assert (first.status_code, first.content) == (second.status_code, second.content)


@pytest.mark.parametrize(
    ("key", "reads_need_key", "status"),
    [("mv_zz_wrong", False, 401), (None, True, 401), (GOOD, True, 200)],
)
async def test_the_guards_answer_through_the_lane_is_the_full_paths(
    key: str | None, reads_need_key: bool, status: int
) -> None:
    api = Api(reads_need_key)
    async with api.client(api.lane) as lane, api.client(api.full) as full:
        await top(lane)
        given = {"X-Request-ID": "client-id-2"}
        through_lane = await top(lane, key, **given)
        assert answer(through_lane) == answer(await top(full, key, **given))
        assert through_lane.status_code == status and api.full_calls == 2


async def test_a_rate_limited_key_is_refused_alike_and_each_request_takes_one_token() -> None:
    answers = []
    for way in ("lane", "full"):
        api = Api()
        async with api.client(getattr(api, way)) as client:
            await top(client)
            # The key's burst is 2: a third request within the second is refused, whichever path served the
            # first two. Were a token taken by the lane and again by the full path, the second would be.
            responses = [await top(client, SLOW, **{"X-Request-ID": "client-id-3"}) for _ in range(3)]
        assert [r.status_code for r in responses] == [200, 200, 429]
        refused = responses[-1].json()
        assert 0 < refused["errors"][0]["extensions"].pop("retryAfterSeconds") <= 1
        headers = [(name, value) for name, value in responses[-1].headers.raw if name != b"content-length"]
        answers.append((refused, headers))
    assert answers[0] == answers[1]


async def test_a_miss_a_stale_response_and_other_requests_go_the_full_path() -> None:
    api = Api()
    async with api.client(api.lane) as lane:
        await top(lane)
        api.cache.invalidate()
        stale = await top(lane)
        other = await lane.post("/graphql", json={"query": "{ __typename }"})
        get = await lane.get("/graphql", params={"query": TOP, "variables": '{"limit": 2}'})
    assert api.full_calls == 4
    assert stale.status_code == other.status_code == get.status_code == 200
    assert other.json() == {"data": {"__typename": "Query"}}


async def test_a_hit_is_counted_once_under_its_operation() -> None:
    api = Api()
    seconds = "movieviews_api_request_duration_seconds_count"
    hits = "movieviews_api_response_cache_requests_total"
    async with api.client(api.lane) as lane, api.client(api.full) as full:
        await top(lane)
        for client in (lane, full):
            before = count(seconds, operation="topMovies"), count(hits, result="hit")
            await top(client)
            assert (count(seconds, operation="topMovies"), count(hits, result="hit")) == (
                before[0] + 1,
                before[1] + 1,
            )


async def test_the_full_path_reads_the_body_the_lane_read_message_for_message() -> None:
    cache = ResponseCache()
    cache.set_enabled(True)
    sent = [
        {"type": "http.request", "body": b'{"query": ', "more_body": True},
        {"type": "http.request", "body": b'"{ a }"}', "more_body": False},
        {"type": "http.disconnect"},
    ]
    arriving = iter(sent)
    got: list[Message] = []

    async def receive() -> Message:
        return next(arriving)

    async def send(message: Message) -> None:
        raise AssertionError("the full app answers")

    async def full(scope: Scope, receive: Receive, send: Send) -> None:
        for _ in sent:
            got.append(await receive())

    admission = Admission(Keys(), TokenBuckets(), GuardConfig(False, 1, 1))  # type: ignore[arg-type]
    lane = ReusedResponses(full, cache, admission, BODY_LIMIT)
    scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": []}
    await lane(scope, receive, send)
    assert got == sent and orjson.loads(b"".join(m.get("body", b"") for m in got)) == {"query": "{ a }"}
