"""Property tests: random GraphQL documents, variables, keys, REST bodies and raw bytes against the whole app
in-process, over real Postgres and Kafka. Never a 500, never an internal error (masked or not), never a write
without a key that allows it; a 503 names its outage."""

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
# The codes of the outages a 503 may tell of (readmodel.errors).
OUTAGES = {"DATABASE_UNAVAILABLE", "BROKER_UNAVAILABLE", "OVERLOADED"}
# The app's body limit in these tests: MOVIEVIEWS_API_MAX_BODY_BYTES' default.
BODY_LIMIT = 65_536
NORMAL = {"query": "{ topMovies(limit: 2) { entries { rank } } }"}
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
        headers = kwargs.pop("headers", {})
        if who in self.keys:
            headers["Authorization"] = f"Bearer {self.keys[who]}"
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
    body = (
        response.json() if response.headers.get("content-type", "").startswith("application/json") else None
    )
    if response.status_code == 503:
        assert error_code(body) in OUTAGES, text
    return body


def error_code(body: Any) -> Any:
    """The error code of a refusal, in the GraphQL shape (the first error's) or the REST shape."""
    if isinstance(body, dict) and body.get("errors"):
        return body["errors"][0].get("extensions", {}).get("code")
    return body.get("code") if isinstance(body, dict) else None


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


def as_json(value: Any) -> bytes:
    return json.dumps(value).encode()  # orjson refuses integers beyond 64 bits; JSON itself does not


request_json = st.fixed_dictionaries(
    {"query": st.sampled_from(["{ __typename }", NORMAL["query"], '{ movie(id: "m-1") { id } }'])},
    optional={"variables": json_values, "operationName": json_values, "extensions": json_values},
).map(as_json)
raw_bodies = st.one_of(
    st.binary(max_size=256),
    # A request cut anywhere: every prefix of a valid body but the whole is malformed JSON.
    st.tuples(request_json, st.floats(0, 1)).map(lambda cut: cut[0][: int(len(cut[0]) * cut[1])]),
    st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(1, 5000).map(lambda depth: b'{"query": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"),
    # Strings around the body limit, as the query and as a variable.
    st.integers(BODY_LIMIT - 64, BODY_LIMIT + 64).map(lambda n: orjson.dumps({"query": "#" + "a" * n})),
    st.integers(1, 3 * BODY_LIMIT).map(lambda n: orjson.dumps({**NORMAL, "variables": {"v": "\u0000" * n}})),
    json_values.map(as_json),
    request_json,
)


def graphql_shaped(body: Any) -> bool:
    """`{"errors": [{"message": ..., "extensions": {"code": ...}}, ...]}` with `data` null or absent."""
    errors = body.get("errors") if isinstance(body, dict) else None
    return (
        isinstance(errors, list)
        and body.get("data") is None
        and all(isinstance(e["message"], str) and isinstance(e["extensions"]["code"], str) for e in errors)
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(raw=raw_bodies, who=st.sampled_from([who for who in KEYS if who != "garbage"]))  # garbage: 401
def test_raw_byte_bodies_get_200_400_or_413_in_the_graphql_shape_and_the_api_answers_on(
    running: tuple[Running, Settings], raw: bytes, who: str
) -> None:
    api, _ = running
    response = api.send("POST", "/graphql", who, content=raw, headers={"Content-Type": "application/json"})
    body = check(response)
    assert response.status_code in (200, 400, 413), (raw[:200], response.text)
    if response.status_code == 200:
        assert isinstance(body, dict) and "data" in body, body
    else:
        expected = (413, "BODY_TOO_LARGE") if len(raw) > BODY_LIMIT else (400, "BAD_USER_INPUT")
        assert graphql_shaped(body) and (response.status_code, error_code(body)) == expected, body
    normal = api.send("POST", "/graphql", who, json=NORMAL)
    assert normal.status_code == 200 and "errors" not in normal.json(), normal.text


def test_every_published_event_came_from_an_accepted_keyed_write(running: tuple[Running, Settings]) -> None:
    # Runs after the two property tests in this module: Kafka holds exactly the writes they saw accepted.
    api, isolated = running
    assert published(isolated) == api.accepted_with_scope
