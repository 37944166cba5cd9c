"""uvicorn's httptools protocol with a bound on the size of a request's head (request line and headers).

httptools (llhttp) sets no limit on a head, and uvicorn offers one only for its h11 protocol
(`h11_max_incomplete_event_size`): under httptools the API read a 10 MB header and answered 200. h11 parses in
Python, on the read path whose cached answers take 30-50 µs of CPU (docs/PERFORMANCE.md), so httptools stays
and this subclass measures each head two ways, each never more than the head's true size:
- the URL and the header names and values the parser hands over, which bounds a head that arrives whole;
- the bytes of each read that falls wholly inside one head, which bounds a head still arriving (one huge
  header that the parser buffers until it ends, or endless small ones).
Past MAX_HEAD_BYTES by either, the client gets 431 with the error in the GraphQL shape and the connection is
closed, before the app sees the request.

A head found too large by the parser's callbacks stops the parser the only way httptools allows, an exception
from the callback; uvicorn then logs "Invalid HTTP request received." and calls `send_400_response`, which
sends the 431 instead.

It also writes each response in one syscall: uvicorn writes a response's head and its body by two
`transport.write` calls, and uvloop sends each at once (two `write` syscalls per response under strace, and
on loopback each delivers to the client's socket inside the call): 34% of a cached read's samples under
py-spy, the head's write the larger part (docs/PERFORMANCE.md, "Where a cached read's time goes"). The
protocol and its requests' cycles write to `Coalescing`, which hands what was written during one pass of the
event loop to the socket at the start of the next (`call_soon`): the head and body of a response, which
uvicorn writes in one step of the request's task, go out together, in the order written.

uvicorn loads it by name in each worker (`http="deploy.httphead:BoundedHeadProtocol"`), after
`movieviews serve` has set the metrics folder, so the refusal is counted with the others (readmodel.metrics).
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from readmodel.errors import HeadersTooLargeError
from readmodel.guard import refusal
from readmodel.metrics import REFUSALS_BY_LIMIT

# h11's default limit (uvicorn's under h11), and Node.js's for its HTTP server: far above the headers of any
# browser or client of this API (a long GraphQL document goes in a POST body).
MAX_HEAD_BYTES = 16 * 1024
TOO_LARGE = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE


class Coalescing:
    """A transport whose writes of one event-loop pass reach the socket as one write, at the next pass.
    Anything else is the socket's transport's; closing writes what is pending first."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def writelines(self, lines: list[bytes]) -> None:
        for data in lines:
            self.write(data)

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def _flush(self) -> None:
        # A connection the client closed meanwhile takes nothing more (the transport would warn of it).
        if self._pending and not self._transport.is_closing():
            self._transport.write(b"".join(self._pending))
        self._pending.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BoundedHeadProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = False
        self._heads_begun = 0
        self._parsed = 0  # bytes of URL and headers parsed in the current head
        self._read = 0  # bytes of reads wholly inside the current head
        self._too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(Coalescing(transport, self.loop))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        begun = self._heads_begun
        super().data_received(data)
        # A read that began a head may also hold the end of the previous request: not counted.
        if self._reading_head and begun == self._heads_begun:
            self._read += len(data)
            if self._read > MAX_HEAD_BYTES:
                self._refuse()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._heads_begun += 1
        self._parsed = self._read = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if self._too_large:
            self._refuse()
        else:
            super().send_400_response(msg)

    def _count(self, size: int) -> None:
        self._parsed += size
        if self._parsed > MAX_HEAD_BYTES:
            self._too_large = True
            raise HeadersTooLargeError(MAX_HEAD_BYTES)

    def _refuse(self) -> None:
        self._reading_head = False
        REFUSALS_BY_LIMIT["headers"].inc()
        response = refusal("/graphql", HeadersTooLargeError(MAX_HEAD_BYTES))
        lines = [f"HTTP/1.1 {TOO_LARGE.value} {TOO_LARGE.phrase}\r\n".encode()]
        lines += [name + b": " + value + b"\r\n" for name, value in response.raw_headers]
        lines.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(lines) + response.body)
        self.transport.close()
