"""The API's client (readmodel.client) without a server: an HTTP transport and a socket stand in for it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest

from readmodel import client as client_module
from readmodel.client import GraphQLClient, GraphQLClientError, LiveClient

NOT_FOUND = {
    "message": "Argument 'id': no movie 'm-x' in the read model",
    "extensions": {"code": "NOT_FOUND", "suggestion": "Check the id.", "argument": "id"},
}


def answering(monkeypatch: pytest.MonkeyPatch, body: dict[str, Any], seen: list[httpx.Request]) -> None:
    """Each GraphQLClient made from now on posts to a transport that records the request, answering `body`."""

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=body)

    real = httpx.Client
    monkeypatch.setattr(
        client_module.httpx, "Client", lambda **kwargs: real(transport=httpx.MockTransport(respond), **kwargs)
    )


def test_a_mutation_sends_its_variables_and_the_key_and_returns_the_event_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[httpx.Request] = []
    answering(monkeypatch, {"data": {"recordView": {"eventId": "e-1", "acceptedAt": "now"}}}, seen)
    with GraphQLClient("http://api", "k-1") as api:
        assert api.record_view("m-1", "e-1") == "e-1"
    (request,) = seen
    assert (request.url.path, request.headers["Authorization"]) == ("/graphql", "Bearer k-1")
    assert json.loads(request.content)["variables"] == {"id": "m-1", "eventId": "e-1"}


def test_a_graphql_error_is_raised_with_its_message_and_the_servers_suggestion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answering(monkeypatch, {"data": None, "errors": [NOT_FOUND]}, [])
    with GraphQLClient("http://api") as api, pytest.raises(GraphQLClientError) as raised:
        api.execute("query Movie($id: ID!) { movie(id: $id) { id } }", id="m-x")
    assert str(raised.value) == f"GraphQL error: {NOT_FOUND['message']}"
    assert raised.value.suggestion == "Check the id."


def test_the_view_count_of_a_movie_the_api_does_not_know_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    answering(monkeypatch, {"data": None, "errors": [NOT_FOUND]}, [])
    with GraphQLClient("http://api") as api:
        assert api.view_count("m-x") is None


class Socket:
    """The frames a server sends, in order; what the client sends back."""

    def __init__(self, *frames: str | bytes) -> None:
        self.frames = list(frames)
        self.sent: list[dict[str, Any]] = []

    async def recv(self) -> str | bytes:
        return self.frames.pop(0)

    async def send(self, frame: str) -> None:
        self.sent.append(orjson.loads(frame))


@pytest.mark.anyio
async def test_a_ping_is_answered_and_the_next_message_returned() -> None:
    socket = Socket('{"type": "ping"}', '{"id": "m", "type": "next", "payload": {"data": {}}}')
    message = await LiveClient(socket).receive(timeout_s=1)  # type: ignore[arg-type]
    assert (message["id"], message["type"], socket.sent) == ("m", "next", [{"type": "pong"}])


@pytest.mark.anyio
async def test_a_binary_frame_is_a_protocol_error_naming_it() -> None:
    with pytest.raises(GraphQLClientError, match="a binary frame"):
        await LiveClient(Socket(b"\x00")).receive(timeout_s=1)  # type: ignore[arg-type]
