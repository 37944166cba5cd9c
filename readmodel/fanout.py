"""Subscriptions fanned out: identical subscribe requests share one execution, encoded once per change.

Measured with `bench live` (1,000 subscribers of one topMoviesChanged) and py-spy on the API process: when
each subscriber ran its own execution, half of the process's time went to graphql-core building the same
result once per subscriber and an eighth to encoding and sending it; p99 was 9.6 s at load 37 (22.7 s in an
earlier run). Here subscribers with equal requests share one `Broadcast`: it runs the operation once (its
resolver reads the hub's feed, readmodel.live), encodes each result's payload once, and keeps only the newest
(`Latest`); each subscriber wraps that text in its own message id and sends it. A slow subscriber skips to
the newest payload and the last one it gets is the newest, as with the feeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLError
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from readmodel.live import Shared, Source

log = logging.getLogger(__name__)

Results = Callable[[], Awaitable[AsyncGenerator[Any, None]]]


@dataclass(frozen=True)
class Encoded:
    """A graphql-transport-ws message without its id: `next`, or `error` (refused before execution; the
    operation ends with it). `payload` is JSON text."""

    type: str
    payload: str

    def message(self, operation_id: str) -> str:
        return f'{{"id":{orjson.dumps(operation_id).decode()},"type":"{self.type}","payload":{self.payload}}}'


def encode(result: object) -> Encoded:
    """Strawberry's `next` and `error` payloads (its graphql_transport_ws handler), as JSON text."""
    if isinstance(result, PreExecutionError):
        return Encoded("error", _json([error.formatted for error in result.errors or ()]))
    if not isinstance(result, ExecutionResult):  # incremental delivery: no wire form in this protocol
        refused = GraphQLError("Incremental delivery is not supported over graphql-transport-ws")
        return Encoded("error", _json([refused.formatted]))
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return Encoded("next", _json(payload))


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


class Broadcast(Source[Encoded]):
    """One execution of a subscription operation, each result encoded once."""

    def __init__(self, name: str, results: Results) -> None:
        super().__init__()
        self.task = asyncio.create_task(self._run(results), name=f"live-broadcast:{name}")

    async def _run(self, results: Results) -> None:
        try:
            source = await results()
            async with aclosing(source):
                async for result in source:
                    encoded = encode(result)
                    self.latest.publish(encoded)
                    if encoded.type == "error":
                        return
        except Exception:
            # A bug ends the operation (its subscribers get `complete`) and is logged, as Strawberry does.
            log.exception("subscription execution failed")
        finally:
            self.latest.close()


class FanOut:
    """Every broadcast of one API process."""

    def __init__(self) -> None:
        self._broadcasts: Shared[Broadcast] = Shared()

    def subscribe(self, key: Hashable, results: Results) -> AsyncIterator[Encoded]:
        """The operation's messages, newest first for a newcomer; `key` names the request: subscribers
        with equal keys share one execution, which `results` starts."""
        return self._broadcasts.read(key, lambda: Broadcast(str(key)[:100], results))

    @property
    def broadcasts(self) -> int:
        return len(self._broadcasts.sources)

    @property
    def subscribers(self) -> int:
        return self._broadcasts.subscribers

    async def stop(self) -> None:
        await self._broadcasts.stop()
