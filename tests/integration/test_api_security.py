"""Keys, scopes, rate limits, cost limits and honest overload, against real Postgres and Kafka."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import psycopg
import pytest
import websockets
from confluent_kafka import Consumer, TopicPartition
from readmodel_fixtures import Snapshot, upsert

from deploy import cli
from deploy.postgres import server as postgres
from deploy.settings import Settings
from readmodel import apikeys
from readmodel.app import create_app
from readmodel.runtime import Runtime
from readmodel.store import POOL_OVERFLOW, POOL_SIZE

pytestmark = pytest.mark.anyio

VIEW = 'mutation { recordView(movieId: "m-0001") { eventId } }'
REGISTER = 'mutation { registerMovie(title: "Heat", year: 1995, genre: "crime") { movieId } }'
SEED_ROWS = [Snapshot("m-0001", 5), Snapshot("m-0002", 9), Snapshot("m-0003", 7), Snapshot("m-0004", 1)]
TOP = "query($limit: Int!) { topMovies(limit: $limit) { entries { movie { id } viewCount } } }"


def new_key(settings: Settings, *scopes: str, rate: int | None = None) -> str:
    return apikeys.create(settings.owner_dsn, settings.api_key_pepper, "tests", list(scopes), rate)


@dataclasses.dataclass
class Api:
    http: httpx.AsyncClient
    settings: Settings
    runtime: Runtime

    async def post(self, query: str, key: str | None = None, **variables: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )


async def start(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as http,
    ):
        yield Api(http, settings, app.state.runtime)


@pytest.fixture
async def api(isolated: Settings) -> AsyncIterator[Api]:
    async for running in start(isolated):
        yield running


def published(settings: Settings) -> int:
    """Events in the test's views and movies topics: what Kafka acknowledged, read without waiting."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "t-watermarks"})
    try:
        total = 0
        for topic in (settings.views_topic, settings.movies_topic):
            for partition in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                total += high - low
        return total
    finally:
        consumer.close()


def code(response: httpx.Response) -> str:
    body = response.json()
    return str(body["errors"][0]["extensions"]["code"] if "errors" in body else body.get("code"))


# --- keys ---


async def test_writes_without_a_valid_key_are_refused_and_publish_nothing(api: Api) -> None:
    aliased = (
        "mutation {" + " ".join(f'v{i}: recordView(movieId: "m-1") {{ eventId }}' for i in range(5)) + "}"
    )
    for key in (None, "mv_0000_wrong", "not-a-key"):
        for query in (VIEW, REGISTER, aliased):
            response = await api.post(query, key)
            assert response.status_code == 401 and code(response) == "UNAUTHENTICATED", response.text
            assert response.headers["www-authenticate"].startswith("Bearer")
    for path, body in (("/api/view/m-0001", {}), ("/api/movie", {"title": "T", "year": 2000, "genre": "x"})):
        response = await api.http.post(path, json=body)
        assert response.status_code == 401 and response.json()["code"] == "UNAUTHENTICATED"
    assert published(api.settings) == 0
    key = new_key(api.settings, "views:write")
    # The 500-alias flood, now with a key: refused whole by the cost limits.
    flood = (
        "mutation {" + " ".join(f'v{i}: recordView(movieId: "m-1") {{ eventId }}' for i in range(500)) + "}"
    )
    assert "1000 tokens" in (await api.post(flood, key)).json()["errors"][0]["message"]
    assert published(api.settings) == 0
    accepted = await api.post(VIEW, key)
    assert accepted.status_code == 200 and "errors" not in accepted.json(), accepted.text
    assert published(api.settings) == 1


async def test_a_key_without_the_scope_is_forbidden(api: Api) -> None:
    views_only = new_key(api.settings, "views:write")
    response = await api.post(REGISTER, views_only)
    assert response.status_code == 403 and code(response) == "FORBIDDEN"
    rest = await api.http.post(
        "/api/movie",
        json={"title": "T", "year": 2000, "genre": "x"},
        headers={"X-API-Key": views_only},
    )
    assert rest.status_code == 403 and rest.json()["code"] == "FORBIDDEN"
    viewed = await api.http.post("/api/view/m-0001", headers={"X-API-Key": views_only})
    assert viewed.status_code == 202, viewed.text
    admin = new_key(api.settings, "admin")
    assert (await api.post(REGISTER, admin)).status_code == 200
    assert published(api.settings) == 2


async def test_keys_are_shown_once_and_stored_only_as_their_hmac(
    isolated: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    def keys(*argv: str) -> str:
        assert cli.main(["keys", *argv], isolated) == 0
        return capsys.readouterr().out

    key = keys("create", "--name", "ingest", "--scope", "views:write").strip()
    key_id, secret = apikeys.split(key) or ("", "")
    listing = keys("list")
    assert key_id in listing and "views:write" in listing and secret not in listing
    with psycopg.connect(isolated.owner_dsn) as conn:
        stored = conn.execute("SELECT row_to_json(k)::text FROM api_keys k").fetchall()
    assert len(stored) == 1 and secret not in stored[0][0]
    assert apikeys.is_live(isolated.owner_dsn, isolated.api_key_pepper, key)
    keys("revoke", key_id)
    assert not apikeys.is_live(isolated.owner_dsn, isolated.api_key_pepper, key)
    assert keys("list").splitlines()[1].split()[-1] != "-"
    assert cli.main(["keys", "revoke", key_id], isolated) == 1
    assert capsys.readouterr().err == (
        f"movieviews keys: no live key with id {key_id!r} (see `movieviews keys list`)\n"
    )


async def test_the_api_role_reads_keys_and_cannot_write_them(isolated: Settings) -> None:
    new_key(isolated, "admin")
    with psycopg.connect(isolated.reader_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM api_keys").fetchone() == (1,)
        for statement in (
            "INSERT INTO api_keys (key_id, name, scopes, secret_hash) VALUES ('x', 'x', '{admin}', 'x')",
            "UPDATE api_keys SET scopes = '{admin}'",
            "UPDATE api_keys SET revoked_at = NULL",
            "DELETE FROM api_keys",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


async def test_a_revoked_key_stops_working_within_the_refresh(api: Api) -> None:
    key = new_key(api.settings, "views:write")
    assert (await api.post(VIEW, key)).status_code == 200
    apikeys.revoke(api.settings.owner_dsn, apikeys.key_id(key))
    deadline = time.monotonic() + apikeys.REFRESH_S + 3
    while (await api.post(VIEW, key)).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still works"
        await asyncio.sleep(0.1)


async def test_reads_need_a_key_when_the_setting_says_so(isolated: Settings) -> None:
    upsert(isolated, SEED_ROWS)
    async for api in start(dataclasses.replace(isolated, api_reads_need_key=True)):
        anonymous = await api.post(TOP, limit=1)
        assert anonymous.status_code == 401 and code(anonymous) == "UNAUTHENTICATED"
        assert (await api.http.get("/api/views")).status_code == 401
        keyed = await api.post(TOP, new_key(isolated), limit=1)
        assert keyed.status_code == 200 and keyed.json()["data"]["topMovies"]["entries"]
        assert (await api.http.get("/healthz")).status_code == 200


async def test_subscriptions_need_a_key_when_reads_do(isolated: Settings) -> None:
    from live_fixtures import serve

    from readmodel.client import PROTOCOL

    query = 'subscription { movieChanged(id: "m-x") { id } }'
    subscription = orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}).decode()
    async with serve(dataclasses.replace(isolated, api_reads_need_key=True)) as api:
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(api.ws, subprotocols=[PROTOCOL]):
                pass
        assert refused.value.response.status_code == 403
        headers = {"Authorization": f"Bearer {new_key(isolated)}"}
        async with websockets.connect(api.ws, subprotocols=[PROTOCOL], additional_headers=headers) as socket:
            await socket.send('{"type": "connection_init"}')
            assert orjson.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "connection_ack"
            await socket.send(subscription)
            assert orjson.loads(await asyncio.wait_for(socket.recv(), 30))["type"] == "next"


# --- rate limits ---


async def test_a_key_past_its_rate_gets_429_with_the_retry_time(
    api: Api, advance_buckets: Callable[[float], None]
) -> None:
    key = new_key(api.settings, "views:write", rate=1)  # burst 2
    statuses = [(await api.post(TOP, key, limit=1)).status_code for _ in range(2)]
    limited = await api.post(TOP, key, limit=1)
    assert statuses == [200, 200] and limited.status_code == 429
    error = limited.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED" and "1 requests/s" in error["message"]
    assert error["extensions"]["retryAfterSeconds"] == 1 and limited.headers["retry-after"] == "1"
    rest = await api.http.post("/api/view/m-0001", headers={"X-API-Key": key})
    assert rest.status_code == 429 and rest.headers["retry-after"] == "1"
    # Another key, and anonymous clients, have buckets of their own.
    assert (await api.post(TOP, new_key(api.settings), limit=1)).status_code == 200
    advance_buckets(error["extensions"]["retryAfterSeconds"])  # the wait the API asked for
    assert (await api.post(TOP, key, limit=1)).status_code == 200
    assert (await api.post(TOP, key, limit=1)).status_code == 429


async def test_anonymous_clients_are_limited_per_address(
    isolated: Settings, advance_buckets: Callable[[float], None]
) -> None:
    async for api in start(dataclasses.replace(isolated, api_anonymous_rate=2)):  # burst 4
        statuses = [(await api.post(TOP, limit=1)).status_code for _ in range(12)]
        assert statuses == [200] * 4 + [429] * 8
        assert (await api.post(TOP, new_key(isolated), limit=1)).status_code == 200
        advance_buckets(0.5)  # one token at 2 a second
        assert [(await api.post(TOP, limit=1)).status_code for _ in range(2)] == [200, 429]


# --- cost limits ---


def aliases(count: int) -> str:
    return "{" + " ".join(f"a{i}: topMovies(limit: 100) {{ entries {{ rank }} }}" for i in range(count)) + "}"


async def test_the_2000_alias_query_is_refused_unread_by_the_body_limit(api: Api) -> None:
    response = await api.post(aliases(2000), new_key(api.settings))  # 99 KB
    [error] = response.json()["errors"]
    assert response.status_code == 413 and error["extensions"]["code"] == "BODY_TOO_LARGE"


async def test_a_1000_alias_query_within_the_body_limit_is_refused_while_parsing(api: Api) -> None:
    attack = aliases(1000)  # 49 KB, 10,000 tokens
    response = await api.post(attack, new_key(api.settings))
    [error] = response.json()["errors"]
    # The parser stops at the limit, 7% into the document: nothing past it is even read.
    assert "more than 1000 tokens" in error["message"]
    assert error["locations"][0]["column"] < len(attack) / 10, (error, len(attack))
    # (How fast, and what it costs other clients, is `movieviews bench guard`.)


@pytest.mark.parametrize(
    ("query", "limit"),
    [
        ("{" + " ".join(f'a{i}: movie(id: "m") {{ id }}' for i in range(11)) + "}", "11 aliases"),
        ("{" + " ".join(f'a{i}: movie(id: "m") {{ id }}' for i in range(6)) + "}", "maxRootFields"),
        (
            "mutation {" + " ".join(f'v{i}: recordView(movieId: "m") {{ eventId }}' for i in range(2)) + "}",
            "maxMutations",
        ),
        (
            "query { ...F ... on Query { d: movie(id: 4) { id } e: movie(id: 5) { id } "
            "f: movie(id: 6) { id } } }"
            " fragment F on Query { a: movie(id: 1) { id } b: movie(id: 2) { id } c: movie(id: 3) { id } }",
            "maxRootFields",
        ),
    ],
)
async def test_each_cost_limit_names_itself(api: Api, query: str, limit: str) -> None:
    response = await api.post(query, new_key(api.settings, "admin"))
    messages = [e["message"] for e in response.json()["errors"]]
    assert any(limit in m for m in messages), messages
    assert published(api.settings) == 0


# --- overload ---


async def test_an_exhausted_pool_answers_busy_while_cached_reads_go_on(api: Api) -> None:
    upsert(api.settings, SEED_ROWS)
    key = new_key(api.settings)
    cached = await api.post(TOP, key, limit=3)
    assert cached.status_code == 200
    held = [await api.runtime.engine.connect() for _ in range(POOL_SIZE + POOL_OVERFLOW)]
    try:
        busy = await api.post(TOP, key, limit=4)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert code(busy) == "OVERLOADED" and "busy" in busy.json()["errors"][0]["message"]
        again = await api.post(TOP, key, limit=3)
        assert again.status_code == 200 and again.json() == cached.json()
    finally:
        for conn in held:
            await conn.close()
    assert (await api.post(TOP, key, limit=4)).status_code == 200


async def test_a_statement_timeout_is_busy_not_unavailable(api: Api) -> None:
    key = new_key(api.settings)
    # A writer holding the table locked makes the API's read wait until its statement_timeout cancels it.
    with psycopg.connect(postgres.admin_conninfo(api.settings, api.settings.pg_database)) as locker:
        locker.execute("LOCK TABLE movie_stats IN ACCESS EXCLUSIVE MODE")
        response = await api.post(TOP, key, limit=7)
    assert response.status_code == 503 and code(response) == "OVERLOADED", response.text
    assert "ran out of its time" in response.json()["errors"][0]["message"]
