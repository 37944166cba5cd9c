"""The GraphQL endpoint (HTTP and WebSocket): Strawberry's ASGI app, with orjson and reuse of ready query
responses (see cache.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import orjson
from cross_web import HTTPException
from graphql import FieldNode, GraphQLError, GraphQLSyntaxError, OperationType, get_operation_ast, parse
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.http.parse_content_type import parse_content_type
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.utils.aio import aclosing

from readmodel.cache import ResponseCache
from readmodel.context import ReadModelContext
from readmodel.cost import MAX_TOKENS
from readmodel.errors import ReadModelError, UnauthenticatedError, UnreadableRequestError, http_headers
from readmodel.fanout import FanOut
from readmodel.guard import refusal
from readmodel.metrics import (
    OPERATIONS,
    OTHER,
    REFUSALS_BY_LIMIT,
    RESPONSE_CACHE_BY_RESULT,
    SUBSCRIPTIONS_OPEN,
)
from readmodel.recordview import RecordViews

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send
    from starlette.websockets import WebSocket
    from strawberry import Schema
    from strawberry.http import GraphQLHTTPResponse
    from strawberry.types import ExecutionResult


# The dashboard, its WebSocket client and the offline GraphiQL page.
WEB_DIR = Path(__file__).parent / "web"

# Subscriptions a single WebSocket may hold at once: a dashboard needs four; a client opening hundreds on
# one connection is a bug or an attack, and each one costs a task.
MAX_SUBSCRIPTIONS_PER_CONNECTION = 20

# GraphQL answers 200 with the error in the body, except where the status tells a client (or a proxy) what to
# do: authenticate, stop, or retry later.
GRAPHQL_STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "RATE_LIMITED": 429, "OVERLOADED": 503}

# What a POST body must be (one GraphQL request), field by field: name, type, and the type in words.
REQUEST_FIELDS = (
    ("query", str, "a string (the GraphQL document)"),
    ("variables", dict, "an object"),
    ("operationName", str, "a string"),
    ("extensions", dict, "an object"),
)
SEND_ONE_REQUEST = (
    'POST one JSON object, {"query": "...", "variables": {...}}, with Content-Type application/json; '
    "or GET /graphql?query=... for a query."
)


class TextFrames(ASGIWebSocketAdapter):
    """graphql-transport-ws messages are text frames; the endpoint's orjson encoder gives bytes, which
    Strawberry would send as binary frames (browsers then hand the client a Blob)."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        await self.send_text(orjson.dumps(message).decode())

    async def send_text(self, text: str) -> None:
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class FanOutHandler(BaseGraphQLTransportWSHandler[ReadModelContext, None]):
    """Subscriptions through the process's `FanOut` (readmodel.fanout): equal requests share one execution
    and its encoded messages. Anything else (a query sent over the socket, a document that does not parse)
    runs as Strawberry runs it."""

    async def run_operation(self, operation: Operation[ReadModelContext, None]) -> None:
        kind, _ = _classify_operation(operation.query, operation.operation_name)
        if kind != OperationType.SUBSCRIPTION:
            await super().run_operation(operation)
            return
        principal = self.context.principal
        variables = orjson.dumps(operation.variables, option=orjson.OPT_SORT_KEYS)
        # The key's principal: no subscription reads it today, but a result is never shared across keys.
        key = (operation.query, variables, operation.operation_name, principal and principal.key_id)

        async def results() -> Any:
            return await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=self.context,
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )

        fanout: FanOut = cast("ReadModelGraphQL", self.view).fanout
        websocket = cast("TextFrames", self.websocket)
        SUBSCRIPTIONS_OPEN.inc()
        try:
            async with aclosing(fanout.subscribe(key, results)) as messages:
                async for encoded in messages:
                    if encoded.type == "error":
                        operation.completed = True
                        self.forget_id(operation.id)
                    await websocket.send_text(encoded.message(operation.id))
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        finally:
            SUBSCRIPTIONS_OPEN.dec()


class ReadModelGraphQL(GraphQL[ReadModelContext, None]):
    websocket_adapter_class = TextFrames
    graphql_transport_ws_handler_class = FanOutHandler

    def __init__(
        self, schema: Schema, context: ReadModelContext, cache: ResponseCache, fanout: FanOut
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            # graphql-transport-ws only: the older graphql-ws protocol (subscriptions-transport-ws) is
            # unmaintained, and one protocol is one set of behaviours to test.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
        )
        self._context = context
        self._cache = cache
        self.fanout = fanout
        self._record_views = RecordViews(schema)
        self._in_flight: dict[bytes, asyncio.Future[Response]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        ready = await (self._post(request) if scope["method"] == "POST" else self._run(request))
        await ready(scope, receive, send)

    async def _post(self, request: Request) -> Response:
        body = await request.body()
        try:
            data = _request_of(body)
        except UnreadableRequestError as exc:
            return _refused(exc)
        operation, request.state.operation = _classify_request(data)
        query = operation == OperationType.QUERY
        ready, fresh = self._cache.lookup(body)
        if ready is None or not (fresh or body in self._in_flight):
            result = "miss"
            if query:
                ready = await self._respond_once(request, body)
            elif operation is not None and request.scope.get("state", {}).get("principal") is None:
                # Refused before execution: no part of a keyless mutation runs.
                ready = refusal("/graphql", UnauthenticatedError("Mutations write: an API key is required"))
            else:
                ready = await self._record_view(request, data) or await self._respond(request, body)
        else:
            result = "hit" if fresh else "stale"
        if query:
            RESPONSE_CACHE_BY_RESULT[result].inc()
        return ready

    async def _record_view(self, request: Request, data: Any) -> Response | None:
        """recordView's direct lane (readmodel.recordview), None when Strawberry must answer."""
        if "application/json" not in _media_type(
            request.headers.get("content-type", "")
        ) or self._get_stream_transport_from_headers(request.headers):
            return None
        plan = self._record_views.plan(data["query"], data.get("operationName"))
        if plan is None:
            return None
        answer = await self._record_views.run(plan, data.get("variables"), self._context_of(request))
        if answer is None:
            return None
        response = Response(orjson.dumps(answer.body), media_type="application/json")
        _tell(response, _telling_error(answer.errors))
        return response

    async def _respond_once(self, request: Request, body: bytes) -> Response:
        # After each change every client misses at once; one execution serves all identical queries that have
        # no recent response to fall back on (at 50 clients and 10 changes/s, p99 was 244 ms without this).
        pending = self._in_flight.get(body)
        if pending is not None:
            return await asyncio.shield(pending)
        future = self._in_flight[body] = asyncio.get_running_loop().create_future()
        try:
            response = await self._respond(request, body)
        except BaseException:
            future.cancel()
            raise
        finally:
            del self._in_flight[body]
        future.set_result(response)
        return response

    async def _respond(self, request: Request, body: bytes) -> Response:
        generation, started_at = self._cache.generation, time.monotonic()
        response = await self._run(request)
        if getattr(request.state, "reusable", False) and is_query(body):
            self._cache.put(body, response, generation, started_at)
        _tell(response, getattr(request.state, "telling_error", None))
        return response

    async def _run(self, request: Request) -> Response:
        """Strawberry's answer; its refusals (a content type it does not read, a mutation by GET, no query)
        in the GraphQL shape rather than its plain text."""
        try:
            return await self.run(request)
        except HTTPException as exc:
            return _refused(UnreadableRequestError(exc.reason, SEND_ONE_REQUEST, http_status=exc.status_code))

    async def render_graphql_ide(self, request: Request) -> Response:
        # Strawberry's own page loads React and GraphiQL from a CDN and stays at "Loading..." offline; this
        # one loads them from /assets.
        return HTMLResponse((WEB_DIR / "graphiql.html").read_text())

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        # Only clean results are reused: an error may be a passing outage.
        request.state.reusable = not result.errors
        request.state.telling_error = _telling_error(result.errors or ())
        return await super().process_result(request, result)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> ReadModelContext:
        return self._context_of(request)

    def _context_of(self, request: Request | WebSocket) -> ReadModelContext:
        principal = request.scope.get("state", {}).get("principal")
        return self._context if principal is None else dataclasses.replace(self._context, principal=principal)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)


def is_query(body: bytes) -> bool:
    return classify(body)[0]


def classify(body: bytes) -> tuple[bool, str]:
    """Whether the request is a query operation, and its first root field: the `operation` it is timed
    under (one of `readmodel.metrics.OPERATIONS`)."""
    operation, name = _parse_request(body)
    return operation == OperationType.QUERY, name


def _parse_request(body: bytes) -> tuple[OperationType | None, str]:
    """The type of the operation a request would run (None when it would not run: bad JSON, syntax), and
    its first root field."""
    return _classify_request(_decode(body))


def _request_of(body: bytes) -> dict[str, Any]:
    """The body as one GraphQL request: a JSON object with a string `query` and, when present, an object
    `variables` and `extensions` and a string `operationName`; raises UnreadableRequestError naming what
    is not."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:  # orjson refuses invalid UTF-8 too
        raise UnreadableRequestError(
            f"The body is not JSON in UTF-8: {exc}", SEND_ONE_REQUEST, "body"
        ) from exc
    if isinstance(data, list):
        message = "A JSON array of operations (a batch) is not supported"
        raise UnreadableRequestError(message, "Send each operation in a request of its own.", "body")
    if not isinstance(data, dict):
        raise UnreadableRequestError("The body must be a JSON object", SEND_ONE_REQUEST, "body")
    for name, kind, what in REQUEST_FIELDS:
        value = data.get(name)
        if not isinstance(value, kind) and (value is not None or name == "query"):
            message = f"'{name}' must be {what}, got {_json_type(value)}"
            raise UnreadableRequestError(message, SEND_ONE_REQUEST, name)
    return data


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "nothing"}
    return names.get(type(value), "a number")


def _refused(error: UnreadableRequestError) -> Response:
    REFUSALS_BY_LIMIT["malformed"].inc()
    return refusal("/graphql", error)


def _decode(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _classify_request(request: Any) -> tuple[OperationType | None, str]:
    try:
        return _classify_operation(request["query"], request.get("operationName"))
    except (KeyError, TypeError, AttributeError):
        return None, OTHER


@lru_cache(maxsize=64)
def _media_type(content_type: str) -> str:
    """Strawberry's reading of a Content-Type header (its parser goes through `email.message`: 5% of the
    direct lane's time in cProfile); clients send a handful of spellings."""
    return parse_content_type(content_type)[0]


def _telling_error(errors: Iterable[GraphQLError]) -> ReadModelError | None:
    """The first error whose code the HTTP status tells (GRAPHQL_STATUS)."""
    return next(
        (
            e.original_error
            for e in errors
            if isinstance(e.original_error, ReadModelError) and e.original_error.code in GRAPHQL_STATUS
        ),
        None,
    )


def _tell(response: Response, error: ReadModelError | None) -> None:
    if error is not None:
        response.status_code = GRAPHQL_STATUS[error.code]
        response.headers.update(http_headers(error))


@lru_cache(maxsize=256)
def _classify_operation(query: str, operation_name: str | None) -> tuple[OperationType | None, str]:
    try:
        # The same token limit as the schema's parser: an oversized document costs no more here than there.
        operation = get_operation_ast(parse(query, max_tokens=MAX_TOKENS), operation_name)
    except GraphQLSyntaxError:
        return None, OTHER
    if operation is None:
        return None, OTHER
    first = next(iter(operation.selection_set.selections), None)
    name = first.name.value if isinstance(first, FieldNode) else OTHER
    return operation.operation, name if name in OPERATIONS else OTHER
