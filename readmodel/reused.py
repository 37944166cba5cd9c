"""Reused query responses answered in front of Starlette: the read path's direct lane.

Calling the app in-process (30 November), a cached `topMovies` took 62-100 µs a request with the three
middlewares and 26-33 µs without them; py-spy of a worker put a large share in Starlette's layers and in each
middleware's `send` wrapper. A POST /graphql whose body has a fresh response in the cache (readmodel.cache,
under the key the GraphQL view stores it by) is answered here in one pass, by the same functions the full
path calls: the request id (readmodel.logs), the guard's admission (readmodel.guard: the key, one token, the
same refusals), the request's time and the cache hit (readmodel.metrics), then the stored response with the
id header. Measured the same way with the lane (docs/PERFORMANCE.md): 30-48 µs of CPU a request, against
59-111 through Starlette's whole stack.

Everything else goes to the full app unchanged, its body read again: another path or method, a body with no
response stored or only a stale one (the view serves that only while it is being recomputed), a client gone
before its body arrived. Nothing has been admitted or counted by then, so no token is taken twice.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from readmodel.errors import ReadModelError
from readmodel.guard import refusal
from readmodel.logs import REQUEST_ID, request_id_of, with_request_id
from readmodel.metrics import RESPONSE_CACHE_BY_RESULT, observe
from readmodel.view import classify

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from readmodel.cache import ResponseCache
    from readmodel.guard import Admission

PATH = "/graphql"


class ReusedResponses:
    def __init__(self, app: ASGIApp, cache: ResponseCache, admission: Admission) -> None:
        self._app = app
        self._cache = cache
        self._admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        body, messages = await _read_body(receive)
        response, fresh = (None, False) if body is None else self._cache.lookup(body)
        if body is None or response is None or not fresh:
            await self._app(scope, _replay(messages, receive), send)
            return
        request_id = request_id_of(scope)
        token = REQUEST_ID.set(request_id)
        try:
            try:
                # Looked up before admission, so that a miss is admitted once, by the full path. Admission
                # waits only for a key it has not verified yet (a reload): that request gets the response
                # that was fresh when it arrived, at most a reload older than the view's lookup would give.
                await self._admission(scope)
            except ReadModelError as exc:
                response = refusal(PATH, exc)
            else:
                scope.setdefault("state", {})["operation"] = classify(body)[1]  # as the view sets it
                RESPONSE_CACHE_BY_RESULT["hit"].inc()
            headers = with_request_id(response.raw_headers, request_id)
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            await send({"type": "http.response.body", "body": response.body})
        finally:
            observe(scope, started)
            REQUEST_ID.reset(token)


async def _read_body(receive: Receive) -> tuple[bytes | None, list[Message]]:
    """The request's body (None if the client left before sending all of it) and the messages it came in."""
    messages, chunks = [], []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that gives `messages` again, then what the client sends next."""
    pending = iter(messages)

    async def replayed() -> Message:
        return next(pending, None) or await receive()

    return replayed
