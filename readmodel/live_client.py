"""The client side of graphql-transport-ws, as much as the subscription tests and benchmark need.

Browsers are the real clients (the dashboard speaks the same protocol in a few lines of JavaScript); this one
runs where a browser would cost too much, such as a thousand subscribers in one process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from readmodel.errors import ReadModelError

PROTOCOL = Subprotocol("graphql-transport-ws")
Message = dict[str, Any]


class LiveClientError(ReadModelError):
    code = "PROTOCOL"

    def __init__(self, message: str) -> None:
        super().__init__(message, "Check the URL and that the server speaks graphql-transport-ws.")


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
                raise LiveClientError("a binary frame: graphql-transport-ws messages are text")
            message: Message = orjson.loads(frame)
            if message["type"] == "ping":
                await self._send({"type": "pong"})
            elif message["type"] != "pong":
                return message

    async def _send(self, message: Message) -> None:
        await self.socket.send(orjson.dumps(message).decode())


@asynccontextmanager
async def live_client(
    url: str, payload: Message | None = None, timeout_s: float = 10.0, api_key: str | None = None
) -> AsyncIterator[LiveClient]:
    """Connected and acknowledged (`connection_init` carries `payload`). `api_key` goes in the handshake's
    Authorization header, where the API checks it (readmodel.guard)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    async with connect(
        url, subprotocols=[PROTOCOL], open_timeout=timeout_s, additional_headers=headers
    ) as socket:
        client = LiveClient(socket)
        await client._send({"type": "connection_init", "payload": payload or {}})
        ack: Message = orjson.loads(await asyncio.wait_for(socket.recv(), timeout_s))
        if ack.get("type") != "connection_ack":
            raise LiveClientError(f"expected connection_ack, got {ack!r:.200}")
        yield client
