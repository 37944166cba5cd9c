"""Reused query responses answered in front of Starlette: the read path's direct lane.

A cached `topMovies` answered through the three middlewares costs several times what it costs without them:
py-spy of a worker puts a large share in Starlette's layers and in each middleware's `send` wrapper
(docs/PERFORMANCE.md, "Where a cached read's time goes"). A POST /graphql whose body has a fresh response in
the cache (readmodel.cache, under the key the GraphQL view stores it by) is answered here in one pass, by the
same functions the full path calls: the request id (readmodel.logs), the guard's admission (readmodel.guard:
the key, one token, the same refusals), the request's time and the cache hit (readmodel.metrics), then the
stored response with the id header.

Everything else goes to the full app unchanged, its body read again: another path or method, a body with no
response stored or only a stale one (the GraphQL endpoint serves that only while it is being recomputed), a
client gone before its body arrived. Nothing has been admitted or counted by then, so no token is taken twice.

Being the first layer to read a body, it is also the one that bounds it, for every request with a body to
/graphql and /api: a declared Content-Length over the limit is refused before a byte of the body is read, and
a body without one (chunked) as soon as the bytes received pass the limit. The refusal (413) closes the
connection, so the rest of the body is never read; nothing has been admitted, so it takes no token.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from readmodel.errors import BodyTooLargeError, ReadModelError
from readmodel.graphql_endpoint import classify
from readmodel.guard import GUARDED, refusal
from readmodel.logs import REQUEST_ID, request_id_of, with_request_id
from readmodel.metrics import PENDING, REFUSALS_BY_LIMIT, RESPONSE_CACHE_BY_RESULT, observe

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from starlette.responses import Response
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from readmodel.cache import ResponseCache
    from readmodel.guard import Admission

PATH = "/graphql"
# Methods whose requests carry no body to bound.
BODILESS = ("GET", "HEAD")


class ReusedResponses:
    def __init__(self, app: ASGIApp, cache: ResponseCache, admission: Admission, max_body_bytes: int) -> None:
        self._app = app
        self._cache = cache
        self._admission = admission
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODILESS or not scope["path"].startswith(GUARDED):
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            body, messages = await _read_body(scope, receive, self._max_body_bytes)
        except BodyTooLargeError as exc:
            REFUSALS_BY_LIMIT["body_size"].inc()
            await _answer(scope, send, started, _ready(refusal(scope["path"], exc)), close=True)
            return
        response, fresh = None, False
        if body is not None and scope["method"] == "POST" and scope["path"] == PATH:
            response, fresh = self._cache.lookup(body)
        if body is None or response is None or not fresh:
            await self._app(scope, _replay(messages, receive), send)
            return
        await _answer(scope, send, started, self._reuse(scope, body, response))

    async def _reuse(self, scope: Scope, body: bytes, response: Response) -> Response:
        # Looked up before admission, so that a miss is admitted once, by the full path. Admission waits only
        # for a key it has not verified yet (a reload): that request gets the response that was fresh when it
        # arrived, at most a reload older than the endpoint's lookup would give.
        try:
            await self._admission(scope)
        except ReadModelError as exc:
            return refusal(PATH, exc)
        scope.setdefault("state", {})["operation"] = classify(body)[1]  # as the endpoint sets it
        PENDING.count(RESPONSE_CACHE_BY_RESULT["hit"])
        return response


async def _ready(response: Response) -> Response:
    return response


async def _answer(
    scope: Scope, send: Send, started: float, answer: Awaitable[Response], close: bool = False
) -> None:
    """Sends the response `answer` gives, awaited under the request's id, with the id header; timed."""
    request_id = request_id_of(scope)
    token = REQUEST_ID.set(request_id)
    try:
        response = await answer
        headers = with_request_id(response.raw_headers, request_id)
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
    finally:
        observe(scope, started)
        REQUEST_ID.reset(token)


async def _read_body(scope: Scope, receive: Receive, limit: int) -> tuple[bytes | None, list[Message]]:
    """The request's body (None if the client left before sending all of it) and the messages it came in;
    raises BodyTooLargeError once its declared or received length passes `limit`."""
    declared = next((value for name, value in scope["headers"] if name == b"content-length"), b"")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(limit)
    messages, chunks, size = [], [], 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that gives `messages` again, then what the client sends next."""
    pending = iter(messages)

    async def replayed() -> Message:
        return next(pending, None) or await receive()

    return replayed
