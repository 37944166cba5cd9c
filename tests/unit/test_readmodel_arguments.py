"""Every argument that becomes an event field or a lookup key is held to the one definition of a valid field
(schemas.fields): refused with an error naming the argument, nothing published, nothing sent to Postgres."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from test_readmodel_recordview import FULL, both
from test_readmodel_schema import FakePublisher, FakeStore, context, execute

from readmodel.commands import Commands
from readmodel.context import ReadModelContext
from readmodel.rest import routes
from readmodel.store import TopPage

HOSTILE_IDS = {
    "nul": "a\x00b",
    "escape": "a\x1b[31mb",
    "bidi override": "abc\u202efdp.exe",
    "bidi isolate": "a\u2067b",
    "zero-width space": "a\u200bb",
    "paragraph separator": "a\u2029b",
    "lone surrogate": "a\ud800b",
    "only whitespace": " \u3000 ",
    "not nfc": "cafe\u0301",
    "one past the longest": "m" * 129,
}


class RecordingStore(FakeStore):
    def __init__(self) -> None:
        super().__init__([])
        self.genres: list[str | None] = []

    async def top(self, limit: int, genre: str | None, after: Any) -> TopPage:
        self.genres.append(genre)
        return await super().top(limit, genre, after)


def recording_context(store: RecordingStore, publisher: FakePublisher | None = None) -> ReadModelContext:
    ctx = context(store)
    return ReadModelContext(store, Commands(publisher or FakePublisher()), 100, principal=ctx.principal)  # type: ignore[arg-type]


@pytest.mark.anyio
@pytest.mark.parametrize("movie_id", HOSTILE_IDS.values(), ids=HOSTILE_IDS.keys())
async def test_a_hostile_movie_id_in_record_view_is_refused_naming_the_argument(movie_id: str) -> None:
    # The direct lane and Strawberry answer alike (test_readmodel_recordview.py).
    direct, strawberry, events = await both(FULL, {"id": movie_id}, FakePublisher())
    assert direct == strawberry and events == []
    [error] = strawberry["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["argument"] == "movieId"
    assert error["message"].startswith("Argument 'movieId': movie_id must")


@pytest.mark.anyio
async def test_the_longest_movie_id_and_a_non_bmp_one_are_recorded() -> None:
    for movie_id in ("m" * 128, "🎬" * 128):
        _, strawberry, events = await both(FULL, {"id": movie_id}, FakePublisher())
        assert "errors" not in strawberry and [e.movie_id for e in events] == [movie_id]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("title", "genre", "argument"),
    [("Alien\x00", "sci-fi", "title"), ("Alien", "sci\u202efi", "genre"), ("Alien", " ", "genre")],
)
async def test_a_hostile_title_or_genre_in_register_movie_is_refused_naming_it(
    title: str, genre: str, argument: str
) -> None:
    publisher = FakePublisher()
    query = (
        "mutation($t: String!, $g: String!) { registerMovie(title: $t, year: 1979, genre: $g) { movieId } }"
    )
    result = await execute(query, recording_context(RecordingStore(), publisher), t=title, g=genre)
    assert result.errors[0].extensions["argument"] == argument and publisher.events == []


@pytest.mark.anyio
async def test_register_movie_publishes_its_title_and_genre_in_nfc() -> None:
    publisher = FakePublisher()
    query = (
        'mutation { registerMovie(title: "Ame\u0301lie", year: 2001, genre: "come\u0301die") { movieId } }'
    )
    result = await execute(query, recording_context(RecordingStore(), publisher))
    assert result.errors is None
    assert [(e.title, e.genre) for e in publisher.events] == [("Amélie", "comédie")]


@pytest.mark.anyio
@pytest.mark.parametrize("movie_id", HOSTILE_IDS.values(), ids=HOSTILE_IDS.keys())
async def test_a_hostile_id_in_the_movie_query_is_refused_naming_the_argument(movie_id: str) -> None:
    result = await execute("query($id: ID!) { movie(id: $id) { id } }", id=movie_id)
    [error] = result.errors
    assert error.extensions["code"] == "BAD_USER_INPUT" and error.extensions["argument"] == "id"


@pytest.mark.anyio
async def test_a_genre_is_looked_up_in_nfc_and_a_nul_in_it_is_refused_before_the_store() -> None:
    store = RecordingStore()
    query = "query($g: String) { topMovies(limit: 5, genre: $g) { entries { rank } } }"
    assert (await execute(query, recording_context(store), g="come\u0301die")).errors is None
    result = await execute(query, recording_context(store), g="dra\x00ma")
    assert result.errors[0].extensions["argument"] == "genre"
    assert store.genres == ["comédie"]


@pytest.mark.anyio
async def test_a_forged_cursor_with_a_nul_in_its_movie_id_is_malformed() -> None:
    forged = base64.urlsafe_b64encode(orjson.dumps([3, "a\x00b", 1, None])).decode()
    query = "query($a: String) { topMovies(limit: 5, after: $a) { entries { rank } } }"
    result = await execute(query, a=forged)
    assert result.errors[0].extensions["argument"] == "after"
    assert result.errors[0].message == "Argument 'after': malformed cursor"


@pytest.mark.anyio
async def test_the_rest_calls_refuse_a_nul_in_the_path_and_in_the_genre_naming_them() -> None:
    publisher, store = FakePublisher(), RecordingStore()
    app = Starlette(routes=routes(recording_context(store, publisher)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        view = await client.post("/api/view/a%00b")
        top = await client.get("/api/views", params={"genre": "dra\x00ma"})
    assert (view.status_code, view.json()["argument"], view.json()["code"]) == (
        400,
        "movieId",
        "BAD_USER_INPUT",
    )
    assert (top.status_code, top.json()["argument"]) == (400, "genre")
    assert publisher.events == [] and store.genres == []
