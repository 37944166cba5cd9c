"""The API's client, sending what an application would: queries and mutations over HTTP (`GraphQLClient`, for
the demo, the drills and the benchmarks) and subscriptions over graphql-transport-ws (`live_client`).

Browsers are the real subscribers (the dashboard speaks the same protocol in a few lines of JavaScript); the
WebSocket client runs where a browser would cost too much, such as a thousand subscribers in one process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from readmodel.errors import ReadModelError

TOP_MOVIES = """query Top($limit: Int!) {
  topMovies(limit: $limit) { asOf entries { rank viewCount movie { id title genre } } }
}"""
RECORD_VIEW = """mutation View($id: ID!, $eventId: ID) {
  recordView(movieId: $id, eventId: $eventId) { eventId acceptedAt }
}"""
REGISTER_MOVIE = """mutation Register($title: String!, $year: Int!, $genre: String!) {
  registerMovie(title: $title, year: $year, genre: $genre) { movieId }
}"""
MOVIE = "query Movie($id: ID!) { movie(id: $id) { id viewCount } }"

PROTOCOL = Subprotocol("graphql-transport-ws")
Message = dict[str, Any]


class GraphQLClientError(ReadModelError):
    """The API answered with a GraphQL error, or with something outside the protocol."""

    code = "CLIENT"


def _bearer(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


class GraphQLClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 10.0) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout_s, headers=_bearer(api_key))

    def __enter__(self) -> GraphQLClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def execute(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self._http.post("/graphql", json={"query": query, "variables": variables})
        body: dict[str, Any] = response.json()
        if body.get("errors"):
            error = body["errors"][0]
            suggestion = (error.get("extensions") or {}).get("suggestion", "See the error's extensions.")
            raise GraphQLClientError(f"GraphQL error: {error.get('message')}", suggestion)
        data: dict[str, Any] = body["data"]
        return data

    def top_movies(self, limit: int) -> dict[str, Any]:
        page: dict[str, Any] = self.execute(TOP_MOVIES, limit=limit)["topMovies"]
        return page

    def record_view(self, movie_id: str, event_id: str | None = None) -> str:
        """`event_id`: the client's own id, so a retry counts once; the server makes one when None."""
        return str(self.execute(RECORD_VIEW, id=movie_id, eventId=event_id)["recordView"]["eventId"])

    def register_movie(self, title: str, year: int, genre: str) -> str:
        return str(
            self.execute(REGISTER_MOVIE, title=title, year=year, genre=genre)["registerMovie"]["movieId"]
        )

    def view_count(self, movie_id: str) -> int | None:
        """None when the API has no such movie (yet), or answers with an error."""
        response = self._http.post("/graphql", json={"query": MOVIE, "variables": {"id": movie_id}})
        movie = (response.json().get("data") or {}).get("movie")
        return int(movie["viewCount"]) if movie else None


class LiveClient:
    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    async def subscribe(self, operation_id: str, query: str, **variables: Any) -> None:
        payload = {"query": query, "variables": variables}
        await self._send({"id": operation_id, "type": "subscribe", "payload": payload})

    async def complete(self, operation_id: str) -> None:
        await self._send({"id": operation_id, "type": "complete"})

    async def receive(self, timeout_s: float) -> Message:
        """The next message for an operation (`next`, `error`, `complete`); pings are answered on the way."""
        while True:
            frame = await asyncio.wait_for(self.socket.recv(), timeout_s)
            if not isinstance(frame, str):
                raise _protocol_error("a binary frame: graphql-transport-ws messages are text")
            message: Message = orjson.loads(frame)
            if message["type"] == "ping":
                await self._send({"type": "pong"})
            elif message["type"] != "pong":
                return message

    async def _send(self, message: Message) -> None:
        await self.socket.send(orjson.dumps(message).decode())


def _protocol_error(message: str) -> GraphQLClientError:
    return GraphQLClientError(message, "Check the URL and that the server speaks graphql-transport-ws.")


@asynccontextmanager
async def live_client(
    url: str, payload: Message | None = None, timeout_s: float = 10.0, api_key: str | None = None
) -> AsyncIterator[LiveClient]:
    """Connected and acknowledged (`connection_init` carries `payload`). `api_key` goes in the handshake's
    Authorization header, where the API checks it (readmodel.guard)."""
    async with connect(
        url, subprotocols=[PROTOCOL], open_timeout=timeout_s, additional_headers=_bearer(api_key) or None
    ) as socket:
        client = LiveClient(socket)
        await client._send({"type": "connection_init", "payload": payload or {}})
        ack: Message = orjson.loads(await asyncio.wait_for(socket.recv(), timeout_s))
        if ack.get("type") != "connection_ack":
            raise _protocol_error(f"expected connection_ack, got {ack!r:.200}")
        yield client
