"""The server refuses a request head over its limit, whatever reads it comes in, and only that."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import orjson
import pytest
from prometheus_client import REGISTRY
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.server import ServerState

from deploy.httphead import MAX_HEAD_BYTES, BoundedHeadProtocol

pytestmark = pytest.mark.anyio
PAD = b"X-Pad: " + b"a" * 1017 + b"\r\n"  # one 1 KiB header line


class Transport(asyncio.Transport):
    """The socket's side of a connection: what the server wrote, and whether it closed it."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.writes = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data
        self.writes += 1

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)


class Server:
    """One connection to a server whose app answers 204 after reading the whole body."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.answered = asyncio.Event()
        config = Config(self.app, interface="asgi3", lifespan="off", log_level="error")
        self.protocol = BoundedHeadProtocol(config=config, server_state=ServerState(), app_state={})
        self.transport = Transport()
        self.protocol.connection_made(self.transport)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        self.answered.set()

    def feed(self, data: bytes, read: int) -> None:
        """`data` in reads of `read` bytes until the server closes the connection (then nothing is read)."""
        for start in range(0, len(data), read):
            if self.transport.closed:
                return
            self.protocol.data_received(data[start : start + read])


def refused() -> float:
    return REGISTRY.get_sample_value("movieviews_api_rate_limit_refusals_total", {"limit": "headers"}) or 0.0


# 64 header lines of 1 KiB, complete in the read that passes the limit; one 10 MB header that never ends.
HEADS = [PAD * 64 + b"\r\n", b"X-Big: " + b"a" * 10_000_000]


@pytest.mark.parametrize("read", [1024, 4096, 65536])
@pytest.mark.parametrize("headers", HEADS, ids=["many-lines", "one-endless-header"])
async def test_a_head_over_the_limit_is_refused_with_431_in_the_graphql_shape_and_the_connection_closed(
    read: int, headers: bytes
) -> None:
    server, before = Server(), refused()
    server.feed(b"GET /graphql HTTP/1.1\r\nHost: api\r\n" + headers, read)
    head, _, body = bytes(server.transport.written).partition(b"\r\n\r\n")
    assert (
        head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n") and b"connection: close" in head
    )
    [error] = orjson.loads(body)["errors"]
    assert error["message"] == f"The request line and headers are larger than {MAX_HEAD_BYTES} bytes"
    assert error["extensions"]["code"] == "HEADERS_TOO_LARGE"
    assert server.transport.closed and refused() == before + 1 and server.bodies == []


async def test_a_head_under_the_limit_in_many_reads_and_a_large_body_are_served() -> None:
    server, before = Server(), refused()
    body = b"x" * (4 * MAX_HEAD_BYTES)
    head = b"POST /graphql HTTP/1.1\r\nHost: api\r\n" + PAD * 12 + b"Content-Length: %d\r\n\r\n" % len(body)
    server.feed(head + body, 512)
    with anyio.fail_after(5):
        await server.answered.wait()
        while not server.transport.written:  # written at the event loop's next pass
            await anyio.sleep(0)
    assert server.bodies == [body] and bytes(server.transport.written).startswith(b"HTTP/1.1 204 ")
    assert not server.transport.closed and refused() == before


async def test_a_responses_head_and_body_reach_the_socket_in_one_write() -> None:
    server = Server()
    server.feed(b"POST /graphql HTTP/1.1\r\nHost: api\r\nContent-Length: 2\r\n\r\n{}", 4096)
    with anyio.fail_after(5):
        await server.answered.wait()
        while not server.transport.written:  # written at the event loop's next pass
            await anyio.sleep(0)
    assert bytes(server.transport.written).startswith(b"HTTP/1.1 204 ") and server.transport.writes == 1
