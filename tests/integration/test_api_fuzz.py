"""Property tests: random GraphQL documents, variables, keys and REST bodies against the whole app
in-process, over real Postgres and Kafka. Never a 500, never an internal error (masked or not), never a write
without a key that allows it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_api_security import new_key, published

from deploy.settings import Settings
from readmodel.app import create_app

EXAMPLES = 120
FIELDS = [
    "topMovies",
    "movie",
    "recordView",
    "registerMovie",
    "__typename",
    "entries",
    "id",
    "nope",
    "__schema",
]
ARGUMENTS = ["limit", "genre", "after", "id", "movieId", "userId", "watchSeconds", "title", "year", "x"]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
literals = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40).map(str),
    st.text(max_size=20).map(lambda s: orjson.dumps(s).decode()),
    st.sampled_from(["null", "true", "$v", "[1, 2]", "{a: 1}", "1.5", "ENUM"]),
)


@st.composite
def selections(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from(FIELDS))
        alias = draw(st.sampled_from(["", "a: ", "b: "]))
        arguments = draw(st.lists(st.tuples(st.sampled_from(ARGUMENTS), literals), max_size=3))
        args = "(" + ", ".join(f"{n}: {v}" for n, v in arguments) + ")" if arguments else ""
        sub = " { " + draw(selections(depth + 1)) + " }" if depth < 3 and draw(st.booleans()) else ""
        parts.append(f"{alias}{field}{args}{sub}")
    return " ".join(parts)


documents = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda op, body, tail: f"{op}{{ {body} }}{tail}",
        st.sampled_from(
            ["", "query ", "mutation ", "subscription ", "query Q($v: Int) ", "mutation M($v: ID!) "]
        ),
        selections(),
        st.sampled_from(["", " fragment F on Query { movie(id: 1) { id } }", " query Other { __typename }"]),
    ),
)
KEYS = ["none", "garbage", "read", "views", "movies", "admin"]


@dataclasses.dataclass
class Running:
    loop: asyncio.AbstractEventLoop
    http: httpx.AsyncClient
    keys: dict[str, str]
    accepted_with_scope: int = 0

    def send(self, method: str, path: str, who: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who in self.keys else {}
        return self.loop.run_until_complete(self.http.request(method, path, headers=headers, **kwargs))


@pytest.fixture(scope="module")
def running(module_isolated: Settings) -> Iterator[tuple[Running, Settings]]:
    # One app for every example (a fresh one per example would take seconds each). Limits far above what the
    # examples send: rate limiting has tests of its own, here it would only turn examples into 429s.
    isolated = dataclasses.replace(module_isolated, api_key_rate=10**6, api_anonymous_rate=10**6)
    keys = {
        "garbage": "mv_0000_garbage",
        "read": new_key(isolated),
        "views": new_key(isolated, "views:write"),
        "movies": new_key(isolated, "movies:write"),
        "admin": new_key(isolated, "admin"),
    }
    loop = asyncio.new_event_loop()
    app = create_app(isolated)
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api")
    try:
        yield Running(loop, http, keys), isolated
    finally:
        loop.run_until_complete(http.aclose())
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()


def check(response: httpx.Response) -> Any:
    assert response.status_code < 500 or response.status_code == 503, response.text
    text = response.text
    assert "Traceback" not in text and "Internal error" not in text and 'File "' not in text, text
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return None


def writes_in(body: Any) -> int:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return 0
    return sum(1 for v in data.values() if isinstance(v, dict) and ("eventId" in v or "movieId" in v))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    document=documents,
    variables=st.one_of(st.none(), st.dictionaries(st.sampled_from(["v", "limit", "id", "x"]), json_values)),
    who=st.sampled_from(KEYS),
    operation_name=st.sampled_from([None, "Q", "M", "Other", ""]),
)
def test_random_graphql_never_fails_the_server_nor_writes_without_a_key(
    running: tuple[Running, Settings], document: str, variables: Any, who: str, operation_name: str | None
) -> None:
    api, _ = running
    payload = {"query": document, "variables": variables, "operationName": operation_name}
    body = check(api.send("POST", "/graphql", who, json=payload))
    wrote = writes_in(body)
    if who not in ("views", "movies", "admin"):
        assert wrote == 0, body
    api.accepted_with_scope += wrote


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    path=st.sampled_from(["/api/view/m-1", "/api/view/", "/api/movie", "/api/views", "/api/x", "/graphql"]),
    raw=st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=64)),
    query=st.dictionaries(
        st.sampled_from(["limit", "genre", "query", "x"]), st.text(max_size=10), max_size=2
    ),
    who=st.sampled_from(KEYS),
)
def test_random_rest_calls_never_fail_the_server_nor_write_without_a_key(
    running: tuple[Running, Settings], method: str, path: str, raw: bytes, query: dict[str, str], who: str
) -> None:
    api, _ = running
    response = api.send(method, path, who, content=raw, params=query)
    body = check(response)
    if response.status_code in (201, 202):
        assert who in ("views", "movies", "admin"), (path, who)
        api.accepted_with_scope += 1
    elif path.startswith("/api/") and method == "POST" and who in ("none", "garbage"):
        assert response.status_code == 401, body


def test_every_published_event_came_from_an_accepted_keyed_write(running: tuple[Running, Settings]) -> None:
    # Runs after the two property tests in this module: Kafka holds exactly the writes they saw accepted.
    api, isolated = running
    assert published(isolated) == api.accepted_with_scope
