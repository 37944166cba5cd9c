"""Subscriptions over graphql-transport-ws: the app under real uvicorn, real Postgres, a WebSocket client."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from live_fixtures import Api, serve
from readmodel_fixtures import SEED_RANKING, Snapshot, upsert

from deploy.postgres import server as postgres
from deploy.settings import Settings
from readmodel.client import LiveClient
from readmodel.graphql_endpoint import MAX_SUBSCRIPTIONS_PER_CONNECTION
from readmodel.live import MIN_INTERVAL_S

pytestmark = pytest.mark.anyio
TOP = "subscription($limit: Int!) { topMoviesChanged(limit: $limit) { entries { viewCount movie { id } } } }"
MOVIE = "subscription($id: ID!) { movieChanged(id: $id) { id viewCount } }"
# A change reaches a subscriber in milliseconds (NOTIFY, one query, one send); this only bounds a failure,
# generously: a busy 2-core machine must not fail a test that waits (`bench freshness` measures the speed).
WAIT_S = 30.0


@pytest.fixture
async def api(isolated: Settings) -> AsyncIterator[Api]:
    async with serve(isolated) as api:
        yield api


def ranking(message: dict[str, Any]) -> list[tuple[str, int]]:
    assert message["type"] == "next", message
    entries = message["payload"]["data"]["topMoviesChanged"]["entries"]
    return [(e["movie"]["id"], e["viewCount"]) for e in entries]


async def quiet(client: LiveClient, seconds: float) -> bool:
    try:
        await client.receive(seconds)
    except TimeoutError:
        return True
    return False


def feed_tasks() -> list[asyncio.Task[Any]]:
    """The feeds' and the broadcasts' tasks still running."""
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("live-") and not t.done()]


async def test_top_movies_changed_sends_the_ranking_then_each_change(isolated: Settings, api: Api) -> None:
    upsert(isolated, SEED_RANKING)
    async with api.client() as client:
        await client.subscribe("top", TOP, limit=3)
        assert ranking(await client.receive(WAIT_S)) == [
            ("m-0005", 3_000_000_000),
            ("m-0002", 90),
            ("m-0001", 50),
        ]
        upsert(isolated, [Snapshot("m-0004", 95, version=2)])
        assert ranking(await client.receive(WAIT_S)) == [
            ("m-0005", 3_000_000_000),
            ("m-0004", 95),
            ("m-0002", 90),
        ]
        # A movie that stays outside the top 3 changes nothing the subscriber sees: no message.
        upsert(isolated, [Snapshot("m-0003", 51, version=2)])
        assert await quiet(client, 1.0)


async def test_movie_changed_is_null_until_the_movie_exists_then_follows_it(
    isolated: Settings, api: Api
) -> None:
    async with api.client() as client:
        await client.subscribe("m", MOVIE, id="m-new")
        assert (await client.receive(WAIT_S))["payload"]["data"] == {"movieChanged": None}
        for version, views in enumerate((1, 2, 3), start=1):
            upsert(isolated, [Snapshot("m-new", views, version=version)])
            message = await client.receive(WAIT_S)
            assert message["payload"]["data"] == {"movieChanged": {"id": "m-new", "viewCount": views}}


async def test_a_burst_of_writes_ends_with_the_final_state_in_few_messages(
    isolated: Settings, api: Api
) -> None:
    async with api.client() as client:
        await client.subscribe("m", MOVIE, id="m-burst")
        await client.receive(WAIT_S)
        started = time.monotonic()
        for version in range(1, 101):
            upsert(isolated, [Snapshot("m-burst", version, version=version)])
        counts = []
        while not counts or counts[-1] != 100:
            counts.append((await client.receive(WAIT_S))["payload"]["data"]["movieChanged"]["viewCount"])
        # At most one message per MIN_INTERVAL_S, however long the commits took on a busy machine: the bound
        # follows the time they took, and a fast run (under 2 s here) leaves far fewer than 100 messages.
        took_s = time.monotonic() - started
        assert counts == sorted(counts) and len(counts) <= took_s / MIN_INTERVAL_S + 2, (counts, took_s)
        assert await quiet(client, 0.5)


async def test_a_connection_may_hold_a_limited_number_of_subscriptions(api: Api) -> None:
    async with api.client() as client:
        for n in range(MAX_SUBSCRIPTIONS_PER_CONNECTION):
            await client.subscribe(f"s{n}", MOVIE, id=f"m-{n}")
        await client.subscribe("one-too-many", MOVIE, id="m-x")
        received = [await client.receive(WAIT_S) for _ in range(MAX_SUBSCRIPTIONS_PER_CONNECTION + 1)]
        [refused] = [m for m in received if m["type"] == "error"]
        assert refused["id"] == "one-too-many"
        assert refused["payload"][0]["message"] == "Subscription limit reached"


async def test_disconnects_leave_no_feed_task_or_subscriber_behind(isolated: Settings, api: Api) -> None:
    upsert(isolated, SEED_RANKING)
    hub, fanout = api.runtime.hub, api.runtime.fanout
    async with api.client() as first, api.client() as second:
        for client in (first, second):
            await client.subscribe("top", TOP, limit=3)
            await client.subscribe("m", MOVIE, id="m-0001")
            await client.receive(WAIT_S)
            await client.receive(WAIT_S)
        assert (fanout.broadcasts, fanout.subscribers) == (2, 4)
        await first.complete("m")
        await until(lambda: fanout.subscribers == 3)
        assert fanout.broadcasts == hub.feeds == 2
    await until(lambda: (fanout.broadcasts, fanout.subscribers, hub.feeds, len(feed_tasks())) == (0, 0, 0, 0))


async def test_equal_subscriptions_share_one_execution_and_each_gets_every_change(
    isolated: Settings, api: Api
) -> None:
    upsert(isolated, SEED_RANKING)
    hub, fanout = api.runtime.hub, api.runtime.fanout
    ids = "subscription { topMoviesChanged(limit: 3) { entries { movie { id } } } }"
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(api.client()) for _ in range(20)]
        for n, client in enumerate(clients):
            await client.subscribe(f"s{n}", TOP, limit=3)
        firsts = [await client.receive(WAIT_S) for client in clients]
        assert [m["id"] for m in firsts] == [f"s{n}" for n in range(20)]
        assert all(ranking(m)[0] == ("m-0005", 3_000_000_000) for m in firsts)
        await clients[0].subscribe("ids", ids)
        assert (await clients[0].receive(WAIT_S))["id"] == "ids"
        # Two documents, two executions; one query underneath, shared by both.
        assert (fanout.broadcasts, fanout.subscribers, hub.feeds, hub.subscribers) == (2, 21, 1, 2)
        upsert(isolated, [Snapshot("m-0004", 4_000_000_000, version=2)])
        for n, client in enumerate(clients):
            message = await client.receive(WAIT_S)
            while message["id"] != f"s{n}":  # the first client also hears its second subscription
                message = await client.receive(WAIT_S)
            assert ranking(message)[0] == ("m-0004", 4_000_000_000)


async def test_subscribers_get_the_current_state_again_after_the_database_connection_drops(
    isolated: Settings, api: Api
) -> None:
    upsert(isolated, SEED_RANKING)
    async with api.client() as client:
        await client.subscribe("top", TOP, limit=2)
        first = ranking(await client.receive(WAIT_S))
        # What a Postgres restart does to the API: every connection of its database dropped, LISTEN included.
        with psycopg.connect(postgres.admin_conninfo(isolated), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND usename = 'mv_reader'",
                (isolated.pg_database,),
            )
        assert ranking(await client.receive(WAIT_S)) == first
        upsert(isolated, [Snapshot("m-0004", 4_000_000_000, version=2)])
        assert ranking(await client.receive(WAIT_S))[0] == ("m-0004", 4_000_000_000)


async def until(condition: Any, seconds: float = WAIT_S) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
