"""The API against real Postgres (migrated, seeded as the stream job writes) and a real broker."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from readmodel_fixtures import SEED_RANKING, T0, Snapshot, upsert
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from strawberry.http import process_result

from deploy.postgres import server as postgres
from deploy.settings import Settings
from deploy.testing import read_from_start, wait_for_counts
from readmodel import apikeys
from readmodel.apikeys import Principal
from readmodel.app import create_app
from readmodel.commands import Commands
from readmodel.context import ReadModelContext
from readmodel.runtime import Runtime
from readmodel.schema import build_schema

TOP = """query Top($limit: Int!, $genre: String, $after: String) {
  topMovies(limit: $limit, genre: $genre, after: $after) {
    asOf hasNextPage endCursor
    entries { rank viewCount lastViewedAt movie { id title genre watchSeconds } }
  }
}"""
SEED = SEED_RANKING
schema = build_schema()
ADMIN = Principal("k-admin", "tests", frozenset({"admin"}), None)
# How long a wait for the API to show a change may take before the test fails: a stuck API, not a slow one.
WAIT_S = 30
pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serve(settings: Settings, key: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app in-process, with a client that sends `key` (by default a new admin key of its own)."""
    if key is None:
        key = apikeys.create(settings.owner_dsn, settings.api_key_pepper, "tests", ["admin"])
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app),
            base_url="http://api",
            headers={"Authorization": f"Bearer {key}"},
        ) as client,
    ):
        yield client


@pytest.fixture
async def api(isolated: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The one HTTP client: the whole app, lifespan included, over this test's database and topics."""
    async with serve(isolated) as client:
        yield client


@pytest.fixture
async def runtime(isolated: Settings) -> AsyncIterator[Runtime]:
    runtime = Runtime(isolated)
    await runtime.start()
    yield runtime
    await runtime.stop()


async def execute(runtime: Runtime, query: str, **variables: Any) -> Any:
    # What the guard hands the schema for a request with an admin key.
    context = dataclasses.replace(runtime.context, principal=ADMIN)
    return await schema.execute(query, variable_values=variables, context_value=context)


async def post(api: httpx.AsyncClient, query: str, **variables: Any) -> Any:
    response = await api.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


# --- schema level ---


async def test_top_movies_ranks_by_count_then_id(isolated: Settings, runtime: Runtime) -> None:
    upsert(isolated, SEED)
    result = await execute(runtime, TOP, limit=10)
    assert result.errors is None
    page = result.data["topMovies"]
    assert [(e["rank"], e["movie"]["id"], e["viewCount"]) for e in page["entries"]] == [
        (1, "m-0005", 3_000_000_000),
        (2, "m-0002", 90),
        (3, "m-0001", 50),
        (4, "m-0003", 50),
        (5, "m-0004", 10),
    ]
    assert page["asOf"] == (T0 + timedelta(seconds=5)).isoformat()
    assert page["hasNextPage"] is False


async def test_cursor_pages_walk_the_whole_ranking(isolated: Settings, runtime: Runtime) -> None:
    upsert(isolated, SEED)
    seen: list[tuple[int, str]] = []
    after = None
    while True:
        page = (await execute(runtime, TOP, limit=2, after=after)).data["topMovies"]
        seen += [(e["rank"], e["movie"]["id"]) for e in page["entries"]]
        if not page["hasNextPage"]:
            break
        after = page["endCursor"]
    assert seen == [(1, "m-0005"), (2, "m-0002"), (3, "m-0001"), (4, "m-0003"), (5, "m-0004")]


async def test_genre_ranking(isolated: Settings, runtime: Runtime) -> None:
    upsert(isolated, SEED)
    first = (await execute(runtime, TOP, limit=1, genre="drama")).data["topMovies"]
    rest = (await execute(runtime, TOP, limit=5, genre="drama", after=first["endCursor"])).data["topMovies"]
    ids = [e["movie"]["id"] for e in first["entries"] + rest["entries"]]
    assert ids == ["m-0002", "m-0003", "m-0004"]
    assert [e["rank"] for e in rest["entries"]] == [2, 3]
    wrong_genre = await execute(runtime, TOP, limit=5, genre="comedy", after=first["endCursor"])
    assert wrong_genre.errors[0].extensions["argument"] == "after"


async def test_movie_by_id(isolated: Settings, runtime: Runtime) -> None:
    upsert(isolated, SEED)
    query = "query($id: ID!) { movie(id: $id) { id title viewCount watchSeconds firstViewedAt } }"
    found = await execute(runtime, query, id="m-0003")
    assert found.data["movie"] == {
        "id": "m-0003",
        "title": "Title m-0003",
        "viewCount": 50,
        "watchSeconds": 7,
        "firstViewedAt": T0.isoformat(),
    }
    missing = await execute(runtime, query, id="m-none")
    assert missing.data is None
    assert missing.errors[0].extensions["argument"] == "id"


async def test_empty_read_model_has_no_as_of(runtime: Runtime) -> None:
    page = (await execute(runtime, TOP, limit=3)).data["topMovies"]
    assert page == {"asOf": None, "hasNextPage": False, "endCursor": None, "entries": []}


async def test_the_api_role_cannot_write(runtime: Runtime) -> None:
    async with runtime.engine.connect() as conn:
        with pytest.raises(DBAPIError, match=r"read-only transaction|permission denied"):
            await conn.execute(text("INSERT INTO movie_stats (movie_id, version) VALUES ('m-x', 1)"))
    async with runtime.engine.connect() as conn:
        await conn.execute(text("SET TRANSACTION READ WRITE"))
        with pytest.raises(DBAPIError, match="permission denied"):
            await conn.execute(text("INSERT INTO movie_stats (movie_id, version) VALUES ('m-x', 1)"))


async def test_record_view_answers_after_the_broker_acknowledged(
    isolated: Settings, runtime: Runtime
) -> None:
    mutation = (
        'mutation { recordView(movieId: "m-0001", userId: "u-1", watchSeconds: 30) { eventId acceptedAt } }'
    )
    result = await execute(runtime, mutation)
    assert result.errors is None
    accepted = result.data["recordView"]
    assert datetime.fromisoformat(accepted["acceptedAt"]).utcoffset() == timedelta(0)
    (message,) = read_from_start(isolated.kafka_admin, isolated.views_topic, 1, 20)
    assert message.key() == b"m-0001"


# --- HTTP level ---

RECORD = """mutation View($id: ID!, $event: ID) {
  recordView(movieId: $id, eventId: $event) { movieId eventId acceptedAt }
}"""
# Job start on the cluster (~20-30 s) plus a handful of views, with room for a slow CI machine.
JOB_DEADLINE_S = 240


async def test_views_recorded_through_the_direct_lane_count_exactly_once_each(
    isolated: Settings, job: str, api: httpx.AsyncClient
) -> None:
    # `job` before `api`: submitting it blocks this thread, and with it the app's event loop, for seconds.
    retried = str(uuid.uuid4())
    for movie, views in (("m-lane-a", 3), ("m-lane-b", 2)):
        for _ in range(views):
            assert (await post(api, RECORD, id=movie))["data"]["recordView"]["movieId"] == movie
    for _ in range(3):  # a client retrying one view: the same eventId each time, counted once
        assert (await post(api, RECORD, id="m-lane-b", event=retried))["data"]["recordView"][
            "eventId"
        ] == retried
    malformed = await post(api, RECORD, id="m-lane-b", event="not-a-uuid")
    assert malformed["data"] is None and malformed["errors"][0]["extensions"]["argument"] == "eventId"
    # The same answer Strawberry's own execution of that request gives (refused before anything publishes).
    refusing = ReadModelContext(None, Commands(None), 100, principal=ADMIN)  # type: ignore[arg-type]
    variables = {"id": "m-lane-b", "event": "not-a-uuid"}
    assert malformed == process_result(await schema.execute(RECORD, variables, context_value=refusing))

    truth = {"m-lane-a": 3, "m-lane-b": 3}
    await asyncio.to_thread(wait_for_counts, isolated, truth, JOB_DEADLINE_S)
    top = (await post(api, TOP, limit=2))["data"]["topMovies"]["entries"]
    assert [(e["movie"]["id"], e["viewCount"]) for e in top] == [("m-lane-a", 3), ("m-lane-b", 3)]


async def test_graphql_over_http_and_graphiql(isolated: Settings, api: httpx.AsyncClient) -> None:
    upsert(isolated, SEED)
    body = await post(api, TOP, limit=2)
    assert [e["movie"]["id"] for e in body["data"]["topMovies"]["entries"]] == ["m-0005", "m-0002"]
    ide = await api.get("/graphql", headers={"Accept": "text/html"})
    assert ide.status_code == 200 and "graphiql" in ide.text.lower()


async def test_bad_input_is_a_graphql_error_without_a_trace(api: httpx.AsyncClient) -> None:
    for variables, argument in (
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": 5, "after": "x"}, "after"),
    ):
        body = await post(api, TOP, **variables)
        assert body["data"] is None
        [error] = body["errors"]
        assert error["extensions"]["argument"] == argument and error["extensions"]["suggestion"]
        assert "Traceback" not in str(body) and "stacktrace" not in str(body).lower()
    impossible = await post(
        api, 'mutation { registerMovie(title: "T", year: 99999, genre: "drama") { movieId } }'
    )
    assert impossible["errors"][0]["extensions"]["argument"] == "year"


async def test_reused_response_is_dropped_when_the_data_changes(
    isolated: Settings, api: httpx.AsyncClient
) -> None:
    upsert(isolated, SEED)
    await wait_for(lambda: movie_views(api, "m-0004"), 10)
    assert await movie_views(api, "m-0004") == 10
    upsert(isolated, [Snapshot("m-0004", 11, version=2)])
    await wait_for(lambda: movie_views(api, "m-0004"), 11)


async def test_health_and_readiness(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "postgres": "ok", "kafka": "ok"}


async def test_rest_calls_of_the_original_system(isolated: Settings, api: httpx.AsyncClient) -> None:
    upsert(isolated, SEED)
    registered = await api.post("/api/movie", json={"title": "Heat", "year": 1995, "genre": "crime"})
    assert registered.status_code == 201, registered.text
    assert uuid.UUID(registered.json()["movieId"])
    viewed = await api.post("/api/view/m-0001", json={"userId": "u-1"})
    assert viewed.status_code == 202 and viewed.json()["eventId"]
    assert (await api.post("/api/view/m-0001")).status_code == 202
    views = (await api.get("/api/views", params={"limit": 2})).json()
    assert [v["movieId"] for v in views["views"]] == ["m-0005", "m-0002"]
    bad = await api.post("/api/movie", json={"title": "Heat", "year": "x", "genre": "crime"})
    assert bad.status_code == 400 and bad.json()["argument"] == "year"
    assert (await api.get("/api/views", params={"limit": 0})).json()["argument"] == "limit"


async def test_postgres_down_fails_reads_only(isolated: Settings, api: httpx.AsyncClient) -> None:
    upsert(isolated, SEED)
    assert "errors" not in await post(api, TOP, limit=1)
    # Postgres refuses this database's API role from now on, and only for this database.
    with psycopg.connect(postgres.admin_conninfo(isolated), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{isolated.pg_database}" CONNECTION LIMIT 0')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND usename = 'mv_reader'",
            (isolated.pg_database,),
        )
    body = await post(api, TOP, limit=2)
    assert body["errors"][0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    # The keys loaded before the outage still verify: writes need only Kafka.
    assert "errors" not in await post(api, 'mutation { recordView(movieId: "m-1") { eventId } }')
    ready = await api.get("/readyz")
    assert ready.status_code == 503 and ready.json()["postgres"].startswith("unavailable")
    assert (await api.get("/healthz")).status_code == 200


async def test_keys_cannot_be_judged_when_postgres_was_down_from_the_start(isolated: Settings) -> None:
    # Nothing listens on port 9 (discard): Postgres is "down" for this app, and only for it.
    async with serve(dataclasses.replace(isolated, pg_port=9), key="mv_0123_not-checkable") as api:
        response = await api.post(
            "/graphql", json={"query": 'mutation { recordView(movieId: "m-1") { eventId } }'}
        )
        assert response.status_code == 503
        assert response.json()["errors"][0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"


async def test_kafka_down_fails_writes_only(isolated: Settings) -> None:
    upsert(isolated, SEED)
    async with serve(dataclasses.replace(isolated, kafka_bootstrap="127.0.0.1:9")) as api:
        body = await post(api, 'mutation { recordView(movieId: "m-1") { eventId } }')
        assert body["errors"][0]["extensions"]["code"] == "BROKER_UNAVAILABLE"
        assert (await post(api, TOP, limit=1))["data"]["topMovies"]["entries"][0]["movie"]["id"] == "m-0005"
        assert (await api.get("/readyz")).json()["kafka"].startswith("unavailable")


async def test_recovers_when_postgres_connections_are_cut(isolated: Settings, api: httpx.AsyncClient) -> None:
    upsert(isolated, SEED)
    assert "errors" not in await post(api, TOP, limit=1)
    # What a Postgres restart does to the API: every connection of its database dropped at once.
    with psycopg.connect(postgres.admin_conninfo(isolated), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND usename = 'mv_reader'",
            (isolated.pg_database,),
        )
    assert "errors" not in await post(api, TOP, limit=1)
    upsert(isolated, [Snapshot("m-0004", 500, version=2)])
    await wait_for(lambda: movie_views(api, "m-0004"), 500)


async def movie_views(api: httpx.AsyncClient, movie_id: str) -> int:
    body = await post(api, "query($id: ID!) { movie(id: $id) { viewCount } }", id=movie_id)
    return int(body["data"]["movie"]["viewCount"])


async def wait_for(probe: Callable[[], Awaitable[object]], expected: object, seconds: float = WAIT_S) -> None:
    """Polls `probe` until it answers `expected`; the deadline is for a stuck API, not a speed (the reused
    response's freshness is `movieviews bench freshness`'s)."""
    deadline = time.monotonic() + seconds
    while (value := await probe()) != expected:
        assert time.monotonic() < deadline, f"still {value!r}, expected {expected!r}"
        await asyncio.sleep(0.02)
