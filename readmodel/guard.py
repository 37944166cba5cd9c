"""Who may call the API and how often: an ASGI middleware in front of /graphql and /api.

Per request, before any other work: the key from `Authorization: Bearer <key>` (or `X-API-Key`) is verified
against the in-memory key ring (readmodel.apikeys), one token is taken from the caller's bucket
(readmodel.ratelimit: per key, or per client address without one), and the REST writes' scopes are checked.
The verified principal travels in `scope["state"]`; the GraphQL view refuses mutations without one and the
mutation resolvers check their scope (readmodel.schema.require).

Subscriptions (WebSocket /graphql) are reads: the handshake is checked the same way, key from its headers.
Health probes and /metrics are not guarded: an orchestrator and Prometheus must always be able to ask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from readmodel.apikeys import KeyRing, Principal
from readmodel.errors import (
    ForbiddenError,
    RateLimitedError,
    ReadModelError,
    UnauthenticatedError,
    http_headers,
)
from readmodel.metrics import REFUSALS_BY_LIMIT
from readmodel.ratelimit import TokenBuckets
from readmodel.responses import error_response, json_response

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

GUARDED = ("/graphql", "/api/")
# The REST writes and the scope each needs; any other non-GET /api call needs admin.
REST_WRITE_SCOPES = (("/api/view/", "views:write"), ("/api/movie", "movies:write"))
# A burst of twice the rate: a client may send a second's worth at once after a quiet second.
BURST_FACTOR = 2


@dataclass(frozen=True)
class GuardConfig:
    reads_need_key: bool
    key_rate: int  # requests/s per key without a rate of its own
    anonymous_rate: int  # requests/s per client address without a key


class Admission:
    """Whether a request may be served, and as whom: its key, one token from its bucket, a REST write's scope.
    The guard asks it, and so does the lane that answers reused responses before Starlette
    (readmodel.reused): one check, whichever path serves the request."""

    def __init__(self, keys: KeyRing, buckets: TokenBuckets, config: GuardConfig) -> None:
        self._keys = keys
        self._buckets = buckets
        self._config = config

    async def __call__(self, scope: Scope) -> Principal | None:
        """The request's principal (None: no key); raises the error to refuse it with."""
        token = _token(scope)
        principal = None if token is None else await self._keys.authenticate(token)
        if principal is not None:
            rate = principal.rate_per_s or self._config.key_rate
            self._take(f"key:{principal.key_id}", rate, lambda: f"key {principal.key_id!r}")
        else:
            client = scope.get("client")
            address = client[0] if client else "unknown"
            self._take(f"address:{address}", self._config.anonymous_rate, lambda: f"client address {address}")
            if token is not None:
                raise UnauthenticatedError("The API key is not valid (unknown, revoked or mistyped)")
        needed = _rest_write_scope(scope)
        if needed is not None or (principal is None and self._config.reads_need_key):
            if principal is None:
                what = "This call writes" if needed else "Reads on this API need a key"
                raise UnauthenticatedError(f"{what}: an API key is required")
            if needed is not None and not principal.allows(needed):
                raise ForbiddenError(principal.key_id, needed)
        return principal

    def _take(self, bucket: str, rate: int, who: Callable[[], str]) -> None:
        wait = self._buckets.take(bucket, rate, BURST_FACTOR * rate)
        if wait > 0:
            REFUSALS_BY_LIMIT["rate"].inc()
            raise RateLimitedError(who(), rate, wait)


class Guard:
    def __init__(self, app: ASGIApp, admission: Admission) -> None:
        self._app = app
        self._admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not scope["path"].startswith(GUARDED):
            await self._app(scope, receive, send)
            return
        try:
            principal = await self._admission(scope)
        except ReadModelError as exc:
            if scope["type"] == "websocket":
                # Closed before the handshake is accepted: the client sees HTTP 403, no subscription starts.
                # (A subscription socket takes one token when it opens; its messages are not counted.)
                await send({"type": "websocket.close", "code": 1008, "reason": exc.message[:120]})
            else:
                await refusal(scope["path"], exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self._app(scope, receive, send)


def _token(scope: Scope) -> str | None:
    name: bytes
    value: bytes
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            return credentials.strip() if scheme.lower() == "bearer" else value.decode("latin-1")
        if name == b"x-api-key":
            return value.decode("latin-1").strip()
    return None


def _rest_write_scope(scope: Scope) -> str | None:
    path = scope["path"]
    if not path.startswith("/api/") or scope["method"] in ("GET", "HEAD"):
        return None
    return next((needed for prefix, needed in REST_WRITE_SCOPES if path.startswith(prefix)), "admin")


def refusal(path: str, error: ReadModelError) -> Response:
    """The error as the caller's protocol spells it: a GraphQL error on /graphql, the REST shape on /api."""
    if not path.startswith("/graphql"):
        return error_response(error)
    body = {"data": None, "errors": [{"message": error.message, "extensions": error.extensions}]}
    return json_response(body, error.http_status, http_headers(error))
